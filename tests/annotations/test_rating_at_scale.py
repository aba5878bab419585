"""The rater's two requests on a campaign of realistic size, seeded by bench/seed.py: next task
and submit read indexes, never a sequential scan of the items, samples, assignments or
judgments, and take the same few queries whatever the rater's history."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotations.models import Assignment, Rater
from annotations.rating.services import judgment_submit, rater_next
from bench.seed import Shape, seed
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db

# 20 checkpoints, 1,000 problems, about 64,000 items; 200 raters with 600 judgments each
SHAPE = Shape(samples=200_000, judgments=120_000, raters=200)
LARGE_TABLES = [
    "annotations_campaignitem",
    "annotations_assignment",
    "annotations_judgment",
    "legibility_sample",
]


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seeded once for the module, outside the tests' transactions; emptied afterwards."""
    with django_db_blocker.unblock():
        require_postgres()
        seed(SHAPE)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def rater(seeded) -> Rater:
    """A seeded rater with 600 judgments behind them, no item open, room in the session."""
    rater = Rater.objects.exclude(assignments__state="open").order_by("pk")[0]
    Rater.objects.filter(pk=rater.pk).update(sessions_started=1000)
    rater.refresh_from_db()
    return rater


def plans(queries: list[dict[str, str]]) -> list[str]:
    """EXPLAIN of every captured query that reads rows (an INSERT's VALUES reads none)."""
    found = []
    with connection.cursor() as cursor:
        for query in queries:
            if query["sql"].startswith(("SELECT", "UPDATE")):
                cursor.execute("EXPLAIN " + query["sql"])
                found.append("\n".join(row[0] for row in cursor.fetchall()))
    return found


def assert_no_large_scan(found: list[str]) -> None:
    for plan in found:
        for table in LARGE_TABLES:
            assert f"Seq Scan on {table}" not in plan, plan


def test_next_task_reads_indexes_only(rater):
    with CaptureQueriesContext(connection) as queries:
        step = rater_next(rater=rater)
    assert step.kind == "task"
    found = plans(queries.captured_queries)
    assert_no_large_scan(found)
    pick = next(plan for plan in found if "item_balance_free_idx" in plan)
    # the problems the rater has seen are probed per candidate, not read in full
    assert "assignment_rater_problem_idx" in pick, pick


@pytest.mark.parametrize("through_htmx", [True, False])
def test_submit_reads_indexes_only(rater, through_htmx):
    step = rater_next(rater=rater)
    answer = {"rater": rater, "assignment_id": step.assignment.pk, "verdict": "correct",
              "client_ms": 5000, "hidden_ms": 0}  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        if through_htmx:
            judgment_submit(**answer)
        else:
            judgment_submit(**answer)
    found = plans(queries.captured_queries)
    assert_no_large_scan(found)
    assert any("annotations_assignment_pkey" in plan for plan in found), found


def test_next_task_and_submit_take_a_fixed_number_of_queries(
    rater, client, django_assert_num_queries
):
    client.force_login(rater.user)
    # session, user, rater; savepoint, rater locked, open item, pick, claim, counters,
    # assignment, release
    with django_assert_num_queries(11):
        page = client.get("/rate/")
    assignment = Assignment.objects.get(rater=rater, state="open")
    assert str(assignment.pk) in page.content.decode()

    # session, user, rater; savepoint, assignment and rater locked, claim, time judged,
    # judgment; then the next item as above: pick, claim, counters, assignment; release
    answer = {"assignment": assignment.pk, "verdict": "correct", "client_ms": "5000"}
    with django_assert_num_queries(13):
        client.post("/rate/answer/", answer, HTTP_HX_REQUEST="true")
    assert Assignment.objects.filter(rater=rater, state="open").exclude(pk=assignment.pk).exists()
