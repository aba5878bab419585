"""The writes of the rater's flow: consent, sessions, issuing items, answers, expiry. Views,
commands and tasks call these; each is one transaction that locks the rater's row first."""

import random
from collections import Counter
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from annotations.models import Assignment, Campaign, CampaignItem, Judgment, Rater
from annotations.rating.counters import raters_recount
from annotations.rating.flow import (
    FinishReason,
    RaterStep,
    StepKind,
    hard_deadline,
    session_full,
    task_step,
)
from annotations.rating.scheduler import next_main_item, next_practice_item

# A page that is still open posts its own timeout when the grace period ends; the sweep waits
# this much longer so that it only catches pages that were closed or went offline.
EXPIRY_MARGIN = timedelta(seconds=60)
CLAIM_ATTEMPTS = 5


class AssignmentClosed(Exception):
    """The assignment was already answered, timed out or expired."""


def rater_consent(*, rater: Rater, now: datetime | None = None) -> None:
    Rater.objects.filter(pk=rater.pk, consented_at__isnull=True).update(
        consented_at=now or timezone.now(), sessions_started=1
    )


@transaction.atomic
def rater_session_start(*, rater: Rater) -> None:
    """Another session of questions, once the last one is complete."""
    locked = (
        Rater.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=rater.pk)
    )
    if session_full(
        assigned=locked.main_assigned,
        sessions_started=locked.sessions_started,
        per_session=locked.campaign.questions_per_session,
    ):
        Rater.objects.filter(pk=rater.pk).update(sessions_started=F("sessions_started") + 1)


# --- the rater's current item -------------------------------------------------------------


@transaction.atomic
def rater_next(
    *, rater: Rater, now: datetime | None = None, rng: random.Random | None = None
) -> RaterStep:
    """The rater's current step: the open item, or else a new one issued now (a get-or-create:
    asking again returns the same open item), or the page that comes instead."""
    now = now or timezone.now()
    rater = _locked(rater)
    campaign = rater.campaign
    if campaign.status != Campaign.Status.LIVE:
        return RaterStep(StepKind.UNAVAILABLE, reason=campaign.status)
    if rater.consented_at is None:
        return RaterStep(StepKind.CONSENT)
    current = _open_assignment(rater)
    if current is not None:
        if now <= hard_deadline(current, campaign):
            return task_step(current, campaign, now)
        _store_judgment(current, rater, campaign, verdict=None, client_ms=None, hidden_ms=None,
                        now=now)  # fmt: skip
    return _issue_next(rater, campaign, now, rng or random.Random())


def _locked(rater: Rater) -> Rater:
    # one rater's requests queue here (two tabs, a double click): they never both issue. Only
    # the rater's row: locking the campaign's too would queue every rater behind one another
    return Rater.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=rater.pk)


def _open_assignment(rater: Rater) -> Assignment | None:
    # usually there is none: the joins that load the item for the page come only when there is
    open_ = Assignment.objects.filter(rater=rater, state=Assignment.State.OPEN).first()
    if open_ is not None:
        open_.item = CampaignItem.objects.select_related("sample__problem").get(pk=open_.item_id)
    return open_


def _issue_next(rater: Rater, campaign: Campaign, now: datetime, rng: random.Random) -> RaterStep:
    """A new item for a rater who has none open, whose row the caller holds locked; or the
    page that comes instead."""
    if rater.practice_done_at is None:
        item = next_practice_item(rater=rater, campaign=campaign)
        if item is not None:
            done = Assignment.objects.filter(rater=rater, is_practice=True).count()
            return task_step(_issue(rater, item, campaign, done + 1, now), campaign, now)
        Rater.objects.filter(pk=rater.pk).update(practice_done_at=now)
    if session_full(
        assigned=rater.main_assigned,
        sessions_started=rater.sessions_started,
        per_session=campaign.questions_per_session,
    ):
        return RaterStep(StepKind.SESSION_END, number=rater.sessions_started)
    if rater.judged_ms >= campaign.rater_cap_s * 1000:
        return RaterStep(StepKind.FINISHED, reason=FinishReason.CAP)
    for _ in range(CLAIM_ATTEMPTS):
        item = next_main_item(rater=rater, campaign=campaign, rng=rng)
        if item is None:
            return RaterStep(StepKind.FINISHED, reason=FinishReason.EXHAUSTED)
        if _claim(item, rater):
            assignment = _issue(rater, item, campaign, rater.main_assigned + 1, now)
            return task_step(assignment, campaign, now)
    return RaterStep(StepKind.FINISHED, reason=FinishReason.BUSY)


def _claim(item: CampaignItem, rater: Rater) -> bool:
    """Take one of the item's judgments for the rater, and count it on the rater."""
    # the row lock makes this a formality on PostgreSQL; it is the guard where rows cannot be
    # locked
    claimed = CampaignItem.objects.filter(pk=item.pk, remaining__gt=0).update(
        remaining=F("remaining") - 1
    )
    if claimed:
        counts = {**rater.balance_counts}
        counts[item.balance_key] = counts.get(item.balance_key, 0) + 1
        Rater.objects.filter(pk=rater.pk).update(
            main_assigned=F("main_assigned") + 1, balance_counts=counts
        )
    return bool(claimed)


def _issue(
    rater: Rater, item: CampaignItem, campaign: Campaign, position: int, now: datetime
) -> Assignment:
    return Assignment.objects.create(
        rater=rater,
        item=item,
        problem_id=item.problem_id,
        is_practice=item.is_practice,
        position=position,
        issued_at=now,
        deadline=now + timedelta(seconds=campaign.time_limit_s),
    )


# --- answers ------------------------------------------------------------------------------


@transaction.atomic
def judgment_submit(
    *,
    rater: Rater,
    assignment_id: UUID | str,
    verdict: str | None,
    client_ms: int | None,
    hidden_ms: int | None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> tuple[Judgment, RaterStep | None]:
    """Store the rater's answer to their own open assignment and, after a main item, issue the
    next one in the same transaction; return the judgment and the step that follows (None
    after a practice item, whose feedback comes first).

    The deadline is the server's: an answer within the grace period counts and is flagged late;
    after it, or with no verdict (the page's own timeout), a timeout is recorded instead.
    Raises Assignment.DoesNotExist for another rater's assignment, AssignmentClosed for one
    already closed (a double submit or a replay)."""
    now = now or timezone.now()
    # the rater's row is locked first, as in every service that changes the rater's items
    assignment = (
        Assignment.objects.select_related("rater__campaign")
        .select_for_update(of=("rater",))
        .get(pk=assignment_id, rater=rater)
    )
    rater, campaign = assignment.rater, assignment.rater.campaign
    judgment = _store_judgment(
        assignment, rater, campaign, verdict=verdict, client_ms=client_ms, hidden_ms=hidden_ms,
        now=now,
    )  # fmt: skip
    if assignment.is_practice:
        return judgment, None
    if campaign.status != Campaign.Status.LIVE:
        return judgment, RaterStep(StepKind.UNAVAILABLE, reason=campaign.status)
    # the answer closed the rater's only open assignment: nothing else to look at first
    return judgment, _issue_next(rater, campaign, now, rng or random.Random())


def _store_judgment(
    assignment: Assignment,
    rater: Rater,
    campaign: Campaign,
    *,
    verdict: str | None,
    client_ms: int | None,
    hidden_ms: int | None,
    now: datetime,
) -> Judgment:
    deadline = hard_deadline(assignment, campaign)
    timed_out = verdict is None or now > deadline
    state = Assignment.State.TIMED_OUT if timed_out else Assignment.State.ANSWERED
    # a conditional update claims the row on SQLite and PostgreSQL alike: no double submit
    claimed = Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.OPEN).update(
        state=state
    )
    if not claimed:
        raise AssignmentClosed(assignment.pk)
    assignment.state = state
    server_ms = int((min(now, deadline) - assignment.issued_at).total_seconds() * 1000)
    if not assignment.is_practice:
        Rater.objects.filter(pk=rater.pk).update(judged_ms=F("judged_ms") + server_ms)
        rater.judged_ms += server_ms
    return Judgment.objects.create(
        assignment=assignment,
        verdict="" if timed_out else (verdict or ""),
        timed_out=timed_out,
        late=not timed_out and now > assignment.deadline,
        client_ms=client_ms,
        hidden_ms=hidden_ms,
        server_ms=server_ms,
        answered_at=now,
    )


@transaction.atomic
def assignments_expire(*, now: datetime | None = None) -> int:
    """Expire open assignments whose page was closed or went offline, past the grace period.

    A main item is recorded as a timeout for its rater (the protocol never drops a missing
    answer, and it counts against the rater, so an item cannot be dodged by closing the tab);
    the item itself goes back to the pool for another rater. The assignment keeps the state
    ``expired`` to say so. An abandoned practice item is only closed."""
    now = now or timezone.now()
    expired = 0
    for campaign in Campaign.objects.exclude(status=Campaign.Status.DRAFT):
        cutoff = now - timedelta(seconds=campaign.grace_s) - EXPIRY_MARGIN
        overdue = Assignment.objects.filter(
            rater__campaign=campaign, state=Assignment.State.OPEN, deadline__lt=cutoff
        )
        # the raters' rows first, as every service locks them; a rater whose request holds
        # the row is skipped: that request decides the assignment's fate
        rater_ids = list(
            Rater.objects.select_for_update(skip_locked=True)
            .filter(pk__in=overdue.values("rater_id"))
            .values_list("pk", flat=True)
        )
        assignments = list(overdue.filter(rater_id__in=rater_ids))
        if assignments:
            _expire(assignments, campaign)
            # rare, and in the background: counting afresh also mends any drift
            raters_recount(raters=Rater.objects.filter(pk__in=rater_ids))
            expired += len(assignments)
    return expired


def _expire(assignments: list[Assignment], campaign: Campaign) -> None:
    Assignment.objects.filter(pk__in=[a.pk for a in assignments]).update(
        state=Assignment.State.EXPIRED
    )
    main = [a for a in assignments if not a.is_practice]
    timeouts = [
        Judgment(
            assignment=assignment,
            verdict="",
            timed_out=True,
            server_ms=int((hard_deadline(assignment, campaign) - assignment.issued_at)
                          .total_seconds() * 1000),
            answered_at=hard_deadline(assignment, campaign),
        )
        for assignment in main
    ]  # fmt: skip
    Judgment.objects.bulk_create(timeouts)
    for item_id, count in Counter(a.item_id for a in main).items():
        CampaignItem.objects.filter(pk=item_id).update(remaining=F("remaining") + count)
