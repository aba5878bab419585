from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotations.models import Assignment, Judgment
from tests.factories import (
    AssignmentFactory,
    CampaignFactory,
    CampaignItemFactory,
    JudgmentFactory,
    SampleFactory,
)

pytestmark = pytest.mark.django_db


def test_an_assignment_has_one_judgment_at_most():
    judgment = JudgmentFactory()
    with pytest.raises(IntegrityError):
        JudgmentFactory(assignment=judgment.assignment)


def test_a_rater_is_never_assigned_the_same_problem_twice_in_a_campaign():
    first = AssignmentFactory(state=Assignment.State.ANSWERED)
    other_sample = SampleFactory(problem=first.problem, checkpoint=first.item.checkpoint)
    other_item = CampaignItemFactory(campaign=first.rater.campaign, sample=other_sample)
    with pytest.raises(IntegrityError):
        AssignmentFactory(rater=first.rater, item=other_item, state=Assignment.State.ANSWERED)


def test_practice_items_may_repeat_a_problem():
    first = AssignmentFactory(state=Assignment.State.ANSWERED, is_practice=True)
    other_sample = SampleFactory(problem=first.problem, checkpoint=first.item.checkpoint)
    other_item = CampaignItemFactory(campaign=first.rater.campaign, sample=other_sample)
    AssignmentFactory(
        rater=first.rater, item=other_item, is_practice=True, state=Assignment.State.ANSWERED
    )


def test_a_rater_holds_one_open_assignment_at_a_time():
    first = AssignmentFactory()
    with pytest.raises(IntegrityError):
        AssignmentFactory(rater=first.rater)


def test_a_sample_appears_once_per_campaign():
    item = CampaignItemFactory()
    with pytest.raises(IntegrityError):
        CampaignItemFactory(campaign=item.campaign, sample=item.sample)


def test_a_timeout_carries_no_verdict_and_an_answer_carries_one():
    with pytest.raises(IntegrityError), transaction.atomic():
        JudgmentFactory(timed_out=True, verdict=Judgment.Verdict.CORRECT)
    with pytest.raises(IntegrityError), transaction.atomic():
        JudgmentFactory(timed_out=False, verdict="")
    JudgmentFactory(timed_out=True, verdict="")


def test_deadline_must_follow_issue():
    with pytest.raises(IntegrityError):
        AssignmentFactory(deadline=timezone.now() - timedelta(seconds=1))


def test_campaign_time_limit_and_judgments_per_item_are_positive():
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignFactory(time_limit_s=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        CampaignFactory(judgments_per_item=0)


def test_campaign_defaults_follow_the_protocol():
    campaign = CampaignFactory()
    assert campaign.time_limit_s == 45
    assert campaign.judgments_per_item == 1
    assert campaign.rater_cap_s == 4 * 60 * 60
