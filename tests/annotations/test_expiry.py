from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment, Campaign, Judgment
from annotations.rating.services import EXPIRY_MARGIN, assignments_expire
from tests.factories import AssignmentFactory

pytestmark = pytest.mark.django_db


def overdue_assignment(*, by: timedelta, **kwargs) -> Assignment:
    issued = timezone.now() - timedelta(seconds=45) - by
    return AssignmentFactory(issued_at=issued, **kwargs)


def test_abandoned_assignment_expires_and_its_item_returns_to_the_pool():
    assignment = overdue_assignment(by=timedelta(seconds=5) + EXPIRY_MARGIN + timedelta(seconds=1))

    assert assignments_expire() == 1

    assignment.refresh_from_db()
    assignment.item.refresh_from_db()
    assert assignment.state == Assignment.State.EXPIRED
    assert assignment.item.remaining == 1


def test_an_abandoned_main_item_is_the_raters_timeout_so_closing_the_tab_dodges_nothing():
    assignment = overdue_assignment(by=timedelta(minutes=5))
    rater = assignment.rater

    assignments_expire()

    judgment = Judgment.objects.get(assignment=assignment)
    assert (judgment.timed_out, judgment.verdict, judgment.late) == (True, "", False)
    assert judgment.server_ms == 50_000  # the limit and the grace: the whole time it had
    assert judgment.answered_at == assignment.deadline + timedelta(seconds=5)
    rater.refresh_from_db()
    assert (rater.main_assigned, rater.judged_ms) == (1, 50_000)


def test_an_abandoned_practice_item_is_closed_without_a_judgment():
    assignment = overdue_assignment(by=timedelta(minutes=5), is_practice=True)

    assignments_expire()

    assignment.refresh_from_db()
    assert assignment.state == Assignment.State.EXPIRED
    assert not Judgment.objects.filter(assignment=assignment).exists()


def test_assignment_inside_grace_and_margin_stays_open():
    assignment = overdue_assignment(by=timedelta(seconds=30))

    assert assignments_expire() == 0

    assignment.refresh_from_db()
    assert assignment.state == Assignment.State.OPEN


def test_answered_assignments_are_left_alone():
    assignment = overdue_assignment(by=timedelta(hours=1), state=Assignment.State.ANSWERED)

    assert assignments_expire() == 0
    assignment.item.refresh_from_db()
    assert assignment.item.remaining == 0


def test_draft_campaigns_are_not_swept():
    overdue_assignment(by=timedelta(hours=1), rater__campaign__status=Campaign.Status.DRAFT)
    assert assignments_expire() == 0
