"""The counters a rater's row keeps (main items given, time judged, items per cell) say what
the assignments and judgments say, through answers, timeouts, expiry and the htmx answer that
issues the next item in its own transaction."""

from collections import Counter
from datetime import timedelta

import pytest

from annotations.models import Assignment, Judgment, Rater
from annotations.rating.services import (
    EXPIRY_MARGIN,
    assignments_expire,
    judgment_submit,
    rater_next,
)

pytestmark = pytest.mark.django_db


def counted(rater: Rater) -> tuple[int, int, dict[str, int]]:
    # an expired item was recorded as the rater's timeout: it counts for them
    live = Assignment.objects.filter(rater=rater, is_practice=False)
    cells = Counter(
        f"{a.item.checkpoint_id}:{a.item.role}:{int(a.item.sample_is_correct)}"
        for a in live.select_related("item")
    )
    judged = Judgment.objects.filter(assignment__rater=rater, assignment__is_practice=False)
    return live.count(), sum(judged.values_list("server_ms", flat=True)), dict(cells)


def kept(rater: Rater) -> tuple[int, int, dict[str, int]]:
    rater.refresh_from_db()
    return rater.main_assigned, rater.judged_ms, rater.balance_counts


def test_counters_follow_answers_timeouts_and_expiry(make_campaign, make_rater):
    rater = make_rater(make_campaign(problems=12))

    step = rater_next(rater=rater)
    judgment_submit(rater=rater, assignment_id=step.assignment.pk, verdict="correct",
                    client_ms=4000, hidden_ms=0,
                    now=step.assignment.issued_at + timedelta(seconds=5))  # fmt: skip
    assert kept(rater) == counted(rater)
    assert kept(rater)[:2] == (2, 5000)  # the answer's transaction issued the next item

    step = rater_next(rater=rater)
    later = step.assignment.issued_at + timedelta(seconds=60)
    step = rater_next(rater=rater, now=later)  # the first one timed out, the next issued
    assert kept(rater) == counted(rater)
    assert kept(rater)[:2] == (3, 5000 + 50_000)

    _, issued = judgment_submit(
        rater=rater, assignment_id=step.assignment.pk, verdict="incorrect", client_ms=2000,
        hidden_ms=0, now=later + timedelta(seconds=2),
    )  # fmt: skip
    assert issued is not None and issued.kind == "task"
    assert kept(rater) == counted(rater)
    assert kept(rater)[:2] == (4, 5000 + 50_000 + 2000)

    abandoned = issued.assignment.issued_at + timedelta(seconds=51) + EXPIRY_MARGIN
    assert assignments_expire(now=abandoned) == 1
    assert kept(rater) == counted(rater)
    # the abandoned item is the rater's timeout: it still counts, and its 50 s are judged time
    assert kept(rater)[:2] == (4, 5000 + 50_000 + 2000 + 50_000)
    assert sum(kept(rater)[2].values()) == 4


def test_the_expiry_sweep_recounts_a_rater_whose_counters_drifted(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    step = rater_next(rater=rater)
    Rater.objects.filter(pk=rater.pk).update(main_assigned=99, judged_ms=7, balance_counts={})

    assignments_expire(now=step.assignment.deadline + timedelta(hours=1))

    # the open item expired: recorded as the rater's timeout, 50 s of judged time
    assert kept(rater) == counted(rater)
    assert kept(rater)[:2] == (1, 50_000)


def test_an_htmx_answer_to_practice_issues_nothing_before_the_feedback(make_campaign, make_rater):
    rater = make_rater(make_campaign(practice_items=2))
    step = rater_next(rater=rater)
    assert step.assignment.is_practice

    judgment, after = judgment_submit(
        rater=rater, assignment_id=step.assignment.pk, verdict="correct", client_ms=1000,
        hidden_ms=0,
    )  # fmt: skip

    assert after is None
    assert judgment.assignment.pk == step.assignment.pk
    assert not Assignment.objects.filter(rater=rater, state="open").exists()
    assert kept(rater) == (0, 0, {})
