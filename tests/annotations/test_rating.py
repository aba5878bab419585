"""The rater's path through a campaign, at the service level."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment, Campaign, CampaignItem, Judgment
from annotations.rating.services import (
    AssignmentClosed,
    judgment_submit,
    rater_next,
    rater_session_start,
)

pytestmark = pytest.mark.django_db


def answer(rater, step, verdict="correct", *, after_s: float = 5, client_ms=4900):
    judgment, _ = judgment_submit(
        rater=rater,
        assignment_id=step.assignment.pk,
        verdict=verdict,
        client_ms=client_ms,
        hidden_ms=0,
        now=step.assignment.issued_at + timedelta(seconds=after_s),
    )
    return judgment


def test_first_visit_asks_for_consent(make_campaign, make_rater):
    rater = make_rater(make_campaign(), consented=False)
    assert rater_next(rater=rater).kind == "consent"


def test_practice_comes_first_then_main_items(make_campaign, make_rater):
    rater = make_rater(make_campaign(practice_items=2))
    kinds = []
    for _ in range(3):
        step = rater_next(rater=rater)
        kinds.append((step.assignment.is_practice, step.number, step.of))
        answer(rater, step)
    assert kinds == [(True, 1, 2), (True, 2, 2), (False, 1, 20)]
    rater.refresh_from_db()
    assert rater.practice_done_at is not None


def test_reloading_shows_the_same_open_item_with_the_server_deadline(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    first = rater_next(rater=rater)
    later = rater_next(rater=rater, now=first.assignment.issued_at + timedelta(seconds=10))
    assert later.assignment.pk == first.assignment.pk
    assert later.remaining_ms == 35_000


def test_session_ends_after_n_questions_and_another_can_start(make_campaign, make_rater):
    rater = make_rater(make_campaign(questions_per_session=3))
    for k in range(1, 4):
        step = rater_next(rater=rater)
        assert (step.kind, step.number, step.of) == ("task", k, 3)
        answer(rater, step)
    assert rater_next(rater=rater).kind == "session_end"

    rater_session_start(rater=rater)
    step = rater_next(rater=rater)
    assert (step.kind, step.number, step.assignment.position) == ("task", 1, 4)


def test_a_rater_never_sees_a_problem_twice_and_runs_out(make_campaign, make_rater):
    campaign = make_campaign(problems=5, questions_per_session=100)
    rater = make_rater(campaign)
    problems = []
    while (step := rater_next(rater=rater)).kind == "task":
        problems.append(step.assignment.problem_id)
        answer(rater, step)
    assert step.kind == "finished"
    assert len(problems) == len(set(problems)) == 5


def test_each_rater_sees_cells_in_balance_interleaved_across_checkpoints(make_campaign, make_rater):
    campaign = make_campaign(problems=40, checkpoints=2, judgments_per_item=3)
    rater = make_rater(campaign)
    cells = []
    for _ in range(20):  # a session: balanced within 2 at its end (see test_balance.py)
        step = rater_next(rater=rater, rng=random.Random(len(cells)))
        item = step.assignment.item
        cells.append((item.checkpoint_id, item.role, item.sample_is_correct))
        answer(rater, step)
    counts = Counter(cells)
    assert len(counts) == 8 and max(counts.values()) - min(counts.values()) <= 2, counts
    checkpoints = [cell[0] for cell in cells]
    assert checkpoints != sorted(checkpoints), "checkpoints are interleaved, not in order"


def test_an_item_is_never_handed_out_more_than_the_campaign_asks(make_campaign, make_rater):
    campaign = make_campaign(problems=3, checkpoints=1, judgments_per_item=2)
    raters = [make_rater(campaign) for _ in range(6)]
    while True:
        progressed = False
        for rater in raters:
            step = rater_next(rater=rater)
            if step.kind == "task":
                answer(rater, step)
                progressed = True
        if not progressed:
            break
    per_item = Counter(Assignment.objects.values_list("item_id", flat=True))
    assert max(per_item.values()) == 2
    # each rater saw each of the 3 problems once: 18 of the 24 judgments the items offer
    assert sum(per_item.values()) == 6 * 3
    assert sum(CampaignItem.objects.values_list("remaining", flat=True)) == 24 - 18


def test_answer_in_time_is_stored_with_both_timings(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    judgment = answer(rater, rater_next(rater=rater), "incorrect", after_s=12.5, client_ms=12_300)
    assert (judgment.verdict, judgment.timed_out, judgment.late) == ("incorrect", False, False)
    assert (judgment.server_ms, judgment.client_ms) == (12_500, 12_300)
    assert judgment.assignment.state == Assignment.State.ANSWERED


def test_answer_in_the_grace_period_counts_and_is_flagged_late(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    judgment = answer(rater, rater_next(rater=rater), after_s=47)
    assert (judgment.verdict, judgment.timed_out, judgment.late) == ("correct", False, True)


def test_late_answer_after_the_grace_is_recorded_as_timeout(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    judgment = answer(rater, rater_next(rater=rater), after_s=60)
    assert (judgment.verdict, judgment.timed_out) == ("", True)
    assert judgment.server_ms == 50_000  # the time limit plus the grace: the item's whole life
    assert judgment.assignment.state == Assignment.State.TIMED_OUT


def test_the_pages_own_timeout_post_records_a_timeout(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    judgment = answer(rater, rater_next(rater=rater), verdict=None, after_s=50)
    assert judgment.timed_out


def test_returning_after_the_grace_records_the_open_item_as_timeout(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    first = rater_next(rater=rater)
    second = rater_next(rater=rater, now=first.assignment.issued_at + timedelta(minutes=5))
    assert second.assignment.pk != first.assignment.pk
    assert Judgment.objects.get(assignment=first.assignment).timed_out


def test_a_double_submit_stores_one_judgment(make_campaign, make_rater):
    rater = make_rater(make_campaign())
    step = rater_next(rater=rater)
    answer(rater, step)
    with pytest.raises(AssignmentClosed):
        answer(rater, step, "incorrect")
    assert Judgment.objects.get().verdict == "correct"


def test_a_rater_cannot_answer_another_raters_assignment(make_campaign, make_rater):
    campaign = make_campaign()
    owner, intruder = make_rater(campaign), make_rater(campaign)
    step = rater_next(rater=owner)
    with pytest.raises(Assignment.DoesNotExist):
        answer(intruder, step)


def test_the_cap_on_judging_time_stops_a_rater(make_campaign, make_rater):
    campaign = make_campaign(questions_per_session=50)
    Campaign.objects.filter(pk=campaign.pk).update(rater_cap_s=20)
    rater = make_rater(campaign)
    answer(rater, rater_next(rater=rater), after_s=12)
    answer(rater, rater_next(rater=rater), after_s=12)
    assert rater_next(rater=rater).reason == "cap"


@pytest.mark.parametrize("status", ["draft", "paused", "closed"])
def test_a_campaign_that_is_not_live_serves_nothing(make_campaign, make_rater, status):
    campaign = make_campaign()
    rater = make_rater(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    step = rater_next(rater=rater)
    assert (step.kind, step.reason) == ("unavailable", status)


def test_expired_items_go_back_to_the_pool_for_other_raters(make_campaign, make_rater):
    from annotations.rating.services import assignments_expire

    campaign = make_campaign(problems=1, checkpoints=1)
    first = rater_next(rater=make_rater(campaign))
    assignments_expire(now=timezone.now() + timedelta(minutes=10))
    first.assignment.refresh_from_db()
    assert first.assignment.state == Assignment.State.EXPIRED
    assert CampaignItem.objects.get(pk=first.assignment.item_id).remaining == 1
