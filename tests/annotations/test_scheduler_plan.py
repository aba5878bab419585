"""Picking the next item reads an index range, not the campaign's items: checked on the plan
PostgreSQL chooses for a campaign of 40,000 items, and on the number of queries."""

import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotations.designs.verdict import balance_key
from annotations.models import CampaignItem
from annotations.rating.scheduler import next_main_item
from annotations.rating.services import rater_next
from legibility.models import Sample
from tests.conftest import require_postgres
from tests.factories import CampaignFactory, CheckpointFactory, ProblemFactory, SampleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def large_campaign(make_rater):
    """40,000 items of one checkpoint over 2,000 problems (two samples share each row)."""
    campaign = CampaignFactory(status="live")
    checkpoint = CheckpointFactory()
    problems = ProblemFactory.create_batch(2000)
    SampleFactory(checkpoint=checkpoint, problem=problems[0])

    Sample.objects.bulk_create(
        [Sample(checkpoint=checkpoint, problem=problems[i % 2000], role="helpful", text="x",
                is_correct=i % 2 == 0, content_hash=f"h{i}") for i in range(1, 40_000)]
    )  # fmt: skip
    samples = list(Sample.objects.values_list("pk", "problem_id", "is_correct"))
    rng = random.Random(0)
    CampaignItem.objects.bulk_create(
        [CampaignItem(campaign=campaign, sample_id=pk, problem_id=problem_id,
                      checkpoint_id=checkpoint.pk, role="helpful", sample_is_correct=bool(correct),
                      balance_key=balance_key(checkpoint.pk, "helpful", bool(correct)),
                      remaining=rng.choice([0, 1]), random_key=rng.random())
         for pk, problem_id, correct in samples]
    )  # fmt: skip
    campaign.balance_keys = [
        balance_key(checkpoint.pk, "helpful", True),
        balance_key(checkpoint.pk, "helpful", False),
    ]
    campaign.save()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE annotations_campaignitem")
    return campaign, make_rater(campaign)


def test_the_pick_is_an_index_scan_of_free_items(large_campaign):
    require_postgres()
    campaign, rater = large_campaign
    with CaptureQueriesContext(connection) as queries:
        next_main_item(rater=rater, campaign=campaign, rng=random.Random(1))
    pick = next(q["sql"] for q in queries if "random_key" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + pick)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "item_balance_free_idx" in plan, plan
    assert "Seq Scan on annotations_campaignitem" not in plan, plan
    assert "Sort" not in plan, "the index gives random_key order: nothing to sort"


def test_next_task_takes_the_same_queries_however_many_items(large_campaign):
    _, rater = large_campaign
    rater_next(rater=rater)  # the first visit also ends practice: not the steady state
    from annotations.rating.services import judgment_submit

    def one_round() -> int:
        step = rater_next(rater=rater)
        judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                        client_ms=1, hidden_ms=0)  # fmt: skip
        with CaptureQueriesContext(connection) as queries:
            rater_next(rater=rater)
        return len(queries)

    counts = {one_round() for _ in range(3)}
    assert max(counts) <= 12, counts
