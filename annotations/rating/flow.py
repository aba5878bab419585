"""The rater's flow as pure rules: the pages a rater can be shown, how sessions fill, where an
item sits in its session, and when an answer comes too late. No queries, no HTTP."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from annotations.models import Assignment, Campaign


class StepKind(StrEnum):
    """What the rater's page shows now."""

    CONSENT = "consent"  # the instructions and the consent button
    TASK = "task"  # an item under its countdown
    FEEDBACK = "feedback"  # after a practice answer: right or wrong
    SESSION_END = "session_end"  # a session's questions are done; another may start
    FINISHED = "finished"  # nothing more for this rater (see FinishReason)
    UNAVAILABLE = "unavailable"  # the campaign is not live (the reason is its status)


class FinishReason(StrEnum):
    CAP = "cap"  # the rater reached the campaign's judging time per person
    EXHAUSTED = "exhausted"  # no item is left that the rater may see
    BUSY = "busy"  # every candidate item was taken by other raters at that moment


@dataclass(frozen=True)
class RaterStep:
    kind: StepKind
    assignment: "Assignment | None" = None
    number: int = 0  # "Question k of N" (practice: "Practice k of N"), or the session ended
    of: int = 0
    remaining_ms: int = 0
    reason: str = ""


def session_full(*, assigned: int, sessions_started: int, per_session: int) -> bool:
    """A rater gets main items up to the sessions they started times the session's size."""
    return assigned >= sessions_started * per_session


def place_in_session(position: int, per_session: int) -> tuple[int, int]:
    """(session, k of "Question k of N") of a rater's position-th main item, both from 1."""
    return (position - 1) // per_session + 1, (position - 1) % per_session + 1


def hard_deadline(assignment: "Assignment", campaign: "Campaign") -> datetime:
    """After this an answer is a timeout; between the deadline and this it counts, late."""
    return assignment.deadline + timedelta(seconds=campaign.grace_s)


def task_step(assignment: "Assignment", campaign: "Campaign", now: datetime) -> RaterStep:
    if assignment.is_practice:
        number, of = assignment.position, campaign.practice_items
    else:
        _, number = place_in_session(assignment.position, campaign.questions_per_session)
        of = campaign.questions_per_session
    remaining_ms = int((assignment.deadline - now).total_seconds() * 1000)
    return RaterStep(
        StepKind.TASK, assignment=assignment, number=number, of=of, remaining_ms=remaining_ms
    )
