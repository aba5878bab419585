"""Many raters at once on PostgreSQL: no item handed out beyond its judgments, none lost."""

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection, transaction

from annotations.models import Assignment, CampaignItem, Judgment
from annotations.rating.services import AssignmentClosed, judgment_submit, rater_next
from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)


def judge_until_done(rater, told_stored: list[int], errors: list[str]) -> None:
    try:
        while (step := rater_next(rater=rater)).kind == "task":
            judgment, _ = judgment_submit(
                rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                client_ms=1000, hidden_ms=0,
                now=step.assignment.issued_at + timedelta(seconds=1),
            )  # fmt: skip
            told_stored.append(judgment.pk)
            try:  # a double submit from the same rater, as a double click would send
                judgment_submit(
                    rater=rater, assignment_id=step.assignment.pk, verdict="incorrect",
                    client_ms=1000, hidden_ms=0,
                )  # fmt: skip
                errors.append("a second judgment was accepted")
            except AssignmentClosed:
                pass
    except Exception as error:  # reported by the test, not lost in the thread
        errors.append(repr(error))
    finally:
        close_old_connections()
        connection.close()


def test_many_raters_at_once_never_over_assign_and_lose_nothing(make_campaign, make_rater):
    require_postgres()
    campaign = make_campaign(problems=15, checkpoints=2, judgments_per_item=2,
                             questions_per_session=1000)  # fmt: skip
    raters = [make_rater(campaign) for _ in range(16)]
    told_stored: list[int] = []
    errors: list[str] = []
    threads = [
        threading.Thread(target=judge_until_done, args=(rater, told_stored, errors))
        for rater in raters
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert Judgment.objects.count() >= 200, "the raters should have judged most of the 240"
    per_item = Counter(Assignment.objects.values_list("item_id", flat=True))
    assert max(per_item.values()) <= 2, "an item was handed out beyond its judgments"
    assert sorted(told_stored) == sorted(Judgment.objects.values_list("pk", flat=True))
    assert Judgment.objects.count() == Assignment.objects.count()
    for rater in raters:
        problems = Assignment.objects.filter(rater=rater).values_list("problem_id", flat=True)
        assert len(problems) == len(set(problems))
    remaining = sum(CampaignItem.objects.values_list("remaining", flat=True))
    assert remaining + Assignment.objects.count() == 2 * CampaignItem.objects.count()


def test_one_raters_transaction_does_not_hold_up_another_raters_next_task(
    make_campaign, make_rater
):
    require_postgres()
    campaign = make_campaign(problems=6)
    first, second = make_rater(campaign), make_rater(campaign)
    issued, release = threading.Event(), threading.Event()
    errors: list[str] = []

    def hold_a_transaction_open() -> None:
        try:
            with transaction.atomic():
                rater_next(rater=first)
                issued.set()
                release.wait(timeout=30)
        except Exception as error:  # reported by the test, not lost in the thread
            errors.append(repr(error))
        finally:
            issued.set()
            connection.close()

    holder = threading.Thread(target=hold_a_transaction_open)
    holder.start()
    try:
        assert issued.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")  # blocked: an error, not a hang
        step = rater_next(rater=second)
    finally:
        release.set()
        holder.join(timeout=30)
    assert errors == []
    assert step.kind == "task"
