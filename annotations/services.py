"""The writes of the human side. Views, API views, admin actions, tasks and commands call these."""

import random
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, F, Max, Sum
from django.utils import timezone

from annotations.models import Assignment, Campaign, CampaignItem, Judgment, Rater
from annotations.scheduler import cell_key, next_main_item, next_practice_item
from annotations.selection import Candidate, select_main_items, select_practice_items
from legibility.models import Checkpoint, Sample, TrainingRun

# A page that is still open posts its own timeout when the grace period ends; the sweep waits
# this much longer so that it only catches pages that were closed or went offline.
EXPIRY_MARGIN = timedelta(seconds=60)
# A new checkpoint is taken into a live campaign once no sample has arrived for it this long:
# items are chosen from its samples once, so they should all be there.
CHECKPOINT_SETTLE = timedelta(minutes=2)
CLAIM_ATTEMPTS = 5


class AssignmentClosed(Exception):
    """The assignment was already answered, timed out or expired."""


# --- campaigns ---------------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    slug: str,
    runs: list[TrainingRun],
    name: str = "",
    status: str = Campaign.Status.LIVE,
    time_limit_s: int = 45,
    judgments_per_item: int = 1,
    questions_per_session: int = 20,
    practice_items: int = 3,
    seed: int | None = None,
) -> Campaign:
    """A campaign over every checkpoint the runs have now, items chosen by the protocol."""
    campaign = Campaign.objects.create(
        slug=slug,
        name=name,
        status=status,
        time_limit_s=time_limit_s,
        judgments_per_item=judgments_per_item,
        questions_per_session=questions_per_session,
        practice_items=practice_items,
    )
    campaign.runs.set(runs)
    checkpoints = list(Checkpoint.objects.filter(run__in=runs))
    campaign_checkpoints_add(campaign=campaign, checkpoints=checkpoints, seed=seed)
    return campaign


@transaction.atomic
def campaign_checkpoints_add(
    *, campaign: Campaign, checkpoints: Sequence[Checkpoint], seed: int | None = None
) -> int:
    """Choose items from the checkpoints' samples and add them; return how many were added."""
    rng = random.Random(seed)
    present = set(campaign.checkpoints.values_list("pk", flat=True))
    new = [checkpoint for checkpoint in checkpoints if checkpoint.pk not in present]
    candidates = [
        Candidate(sample_id, problem_id, checkpoint_id, role, bool(is_correct))
        for sample_id, problem_id, checkpoint_id, role, is_correct in Sample.objects.filter(
            checkpoint__in=new, is_correct__isnull=False
        ).values_list("id", "problem_id", "checkpoint_id", "role", "is_correct")
    ]
    main = select_main_items(candidates, rng=rng)
    practice: list[Candidate] = []
    has_practice = CampaignItem.objects.filter(campaign=campaign, is_practice=True).exists()
    if campaign.practice_items and not has_practice:
        practice = select_practice_items(candidates, main, count=campaign.practice_items, rng=rng)
        in_practice = set(practice)
        main = [candidate for candidate in main if candidate not in in_practice]
    items = [
        CampaignItem(
            campaign=campaign,
            sample_id=candidate.sample_id,
            problem_id=candidate.problem_id,
            checkpoint_id=candidate.checkpoint_id,
            role=candidate.role,
            sample_is_correct=candidate.is_correct,
            is_practice=is_practice,
            remaining=campaign.judgments_per_item,
            random_key=rng.random(),
        )
        for candidates_, is_practice in ((main, False), (practice, True))
        for candidate in candidates_
    ]
    CampaignItem.objects.bulk_create(items, batch_size=5000)
    campaign.checkpoints.add(*new)
    campaign.cells = sorted(
        [checkpoint_id, role, correct]
        for checkpoint_id, role, correct in CampaignItem.objects.filter(
            campaign=campaign, is_practice=False
        )
        .values_list("checkpoint_id", "role", "sample_is_correct")
        .distinct()
    )
    campaign.save(update_fields=["cells"])
    return len(items)


def campaigns_take_in_new_checkpoints(*, now: datetime | None = None) -> int:
    """For each live campaign that follows its runs, add the runs' settled new checkpoints."""
    settled_before = (now or timezone.now()) - CHECKPOINT_SETTLE
    added = 0
    campaigns = Campaign.objects.filter(status=Campaign.Status.LIVE, follow_new_checkpoints=True)
    for campaign in campaigns:
        fresh = (
            Checkpoint.objects.filter(run__in=campaign.runs.all())
            .exclude(campaigns=campaign)
            .annotate(last_sample=Max("samples__created_at"))
            .filter(last_sample__lt=settled_before)
        )
        checkpoints = list(fresh)
        if checkpoints:
            added += campaign_checkpoints_add(campaign=campaign, checkpoints=checkpoints)
    return added


# --- raters ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaterLogin:
    rater: Rater
    username: str
    password: str


@transaction.atomic
def raters_create(*, campaign: Campaign, count: int) -> list[RaterLogin]:
    logins = []
    for _ in range(count):
        pseudonym = f"r-{secrets.token_hex(4)}"
        username = f"{campaign.slug}-{pseudonym}"
        password = secrets.token_urlsafe(9)
        user = get_user_model().objects.create_user(username=username, password=password)
        rater = Rater.objects.create(user=user, campaign=campaign, pseudonym=pseudonym)
        logins.append(RaterLogin(rater, username, password))
    return logins


def rater_consent(*, rater: Rater, now: datetime | None = None) -> None:
    Rater.objects.filter(pk=rater.pk, consented_at__isnull=True).update(
        consented_at=now or timezone.now(), sessions_started=1
    )


def rater_session_start(*, rater: Rater) -> None:
    """Another session of questions, once the last one is complete."""
    with transaction.atomic():
        locked = Rater.objects.select_for_update().get(pk=rater.pk)
        if locked.main_assigned >= locked.sessions_started * locked.campaign.questions_per_session:
            Rater.objects.filter(pk=rater.pk).update(sessions_started=F("sessions_started") + 1)


# --- what the rater sees next ------------------------------------------------------------


@dataclass(frozen=True)
class RaterStep:
    """What the rater's page shows now."""

    kind: str  # consent | task | session_end | finished | unavailable
    assignment: Assignment | None = None
    number: int = 0  # "Question k of N" (practice: "Practice k of N")
    of: int = 0
    remaining_ms: int = 0
    reason: str = ""


@transaction.atomic
def rater_next(
    *, rater: Rater, now: datetime | None = None, rng: random.Random | None = None
) -> RaterStep:
    """The rater's open item, or a new one issued now, or the page that comes instead."""
    now = now or timezone.now()
    rng = rng or random.Random()
    # one rater's requests queue here (two tabs, a double click): they never both issue. Only
    # the rater's row: locking the campaign's too would queue every rater behind one another
    rater = (
        Rater.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=rater.pk)
    )
    campaign = rater.campaign
    if campaign.status != Campaign.Status.LIVE:
        return RaterStep("unavailable", reason=campaign.status)
    if rater.consented_at is None:
        return RaterStep("consent")

    current = _open_assignment(rater)
    if current is not None:
        if now <= _hard_deadline(current, campaign):
            return _task_step(current, campaign, now)
        _store_judgment(
            current, rater, campaign, verdict=None, client_ms=None, hidden_ms=None, now=now
        )
    return _issue_next(rater, campaign, now, rng)


def _issue_next(rater: Rater, campaign: Campaign, now: datetime, rng: random.Random) -> RaterStep:
    """A new item for a rater who has none open, whose row the caller holds locked; or the
    page that comes instead."""
    if rater.practice_done_at is None:
        item = next_practice_item(rater=rater, campaign=campaign)
        if item is not None:
            done = Assignment.objects.filter(rater=rater, is_practice=True).count()
            return _task_step(_issue(rater, item, campaign, done + 1, now), campaign, now)
        Rater.objects.filter(pk=rater.pk).update(practice_done_at=now)

    if rater.main_assigned >= rater.sessions_started * campaign.questions_per_session:
        return RaterStep("session_end", number=rater.sessions_started)
    if rater.judged_ms >= campaign.rater_cap_s * 1000:
        return RaterStep("finished", reason="cap")
    for _ in range(CLAIM_ATTEMPTS):
        item = next_main_item(rater=rater, campaign=campaign, rng=rng)
        if item is None:
            return RaterStep("finished", reason="exhausted")
        # the row lock makes this a formality on PostgreSQL; it is the guard where rows
        # cannot be locked
        claimed = CampaignItem.objects.filter(pk=item.pk, remaining__gt=0).update(
            remaining=F("remaining") - 1
        )
        if claimed:
            cell = cell_key((item.checkpoint_id, item.role, item.sample_is_correct))
            cell_counts = {**rater.cell_counts, cell: rater.cell_counts.get(cell, 0) + 1}
            Rater.objects.filter(pk=rater.pk).update(
                main_assigned=F("main_assigned") + 1, cell_counts=cell_counts
            )
            assignment = _issue(rater, item, campaign, rater.main_assigned + 1, now)
            return _task_step(assignment, campaign, now)
    return RaterStep("finished", reason="busy")


def _open_assignment(rater: Rater) -> Assignment | None:
    # usually there is none: the joins that load the item for the page come only when there is
    open_ = Assignment.objects.filter(rater=rater, state=Assignment.State.OPEN).first()
    if open_ is not None:
        open_.item = CampaignItem.objects.select_related("sample__problem").get(pk=open_.item_id)
    return open_


def rater_recount(*, rater: Rater) -> None:
    """Set the rater's counters from the assignments and judgments themselves. The caller
    holds the rater's row lock."""
    live = Assignment.objects.filter(rater=rater, is_practice=False).exclude(
        state=Assignment.State.EXPIRED
    )
    per_cell = live.values_list("item__checkpoint_id", "item__role", "item__sample_is_correct")
    judged = Judgment.objects.filter(assignment__rater=rater, assignment__is_practice=False)
    Rater.objects.filter(pk=rater.pk).update(
        main_assigned=live.count(),
        judged_ms=judged.aggregate(total=Sum("server_ms"))["total"] or 0,
        cell_counts={
            cell_key((checkpoint_id, role, correct)): n
            for checkpoint_id, role, correct, n in per_cell.annotate(n=Count("id"))
        },
    )


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


def _task_step(assignment: Assignment, campaign: Campaign, now: datetime) -> RaterStep:
    if assignment.is_practice:
        number, of = assignment.position, campaign.practice_items
    else:
        per_session = campaign.questions_per_session
        number, of = (assignment.position - 1) % per_session + 1, per_session
    remaining_ms = int((assignment.deadline - now).total_seconds() * 1000)
    return RaterStep("task", assignment=assignment, number=number, of=of, remaining_ms=remaining_ms)


def _hard_deadline(assignment: Assignment, campaign: Campaign) -> datetime:
    return assignment.deadline + timedelta(seconds=campaign.grace_s)


# --- answers -----------------------------------------------------------------------------


@transaction.atomic
def judgment_submit(
    *,
    rater: Rater,
    assignment_id: UUID | str,
    verdict: str | None,
    client_ms: int | None,
    hidden_ms: int | None,
    now: datetime | None = None,
) -> Judgment:
    """Store the rater's answer to their own open assignment.

    The deadline is the server's: an answer within the grace period counts and is flagged late;
    after it, or with no verdict (the page's own timeout), a timeout is recorded instead.
    Raises Assignment.DoesNotExist for another rater's assignment, AssignmentClosed for one
    already closed (a double submit or a replay)."""
    assignment = _locked_assignment(rater, assignment_id)
    return _store_judgment(
        assignment,
        assignment.rater,
        assignment.rater.campaign,
        verdict=verdict,
        client_ms=client_ms,
        hidden_ms=hidden_ms,
        now=now or timezone.now(),
    )


@transaction.atomic
def judgment_submit_and_next(
    *,
    rater: Rater,
    assignment_id: UUID | str,
    verdict: str | None,
    client_ms: int | None,
    hidden_ms: int | None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> tuple[Judgment, RaterStep | None]:
    """Store the answer as ``judgment_submit`` does and, after a main item, issue the next one
    in the same transaction, so the answer's response can show it (the page answers through
    htmx). No step after a practice item: its feedback comes first."""
    now = now or timezone.now()
    assignment = _locked_assignment(rater, assignment_id)
    rater, campaign = assignment.rater, assignment.rater.campaign
    judgment = _store_judgment(
        assignment, rater, campaign, verdict=verdict, client_ms=client_ms, hidden_ms=hidden_ms,
        now=now,
    )  # fmt: skip
    if assignment.is_practice:
        return judgment, None
    if campaign.status != Campaign.Status.LIVE:
        return judgment, RaterStep("unavailable", reason=campaign.status)
    # the answer closed the rater's only open assignment: nothing else to look at first
    return judgment, _issue_next(rater, campaign, now, rng or random.Random())


def _locked_assignment(rater: Rater, assignment_id: UUID | str) -> Assignment:
    # the rater's row is locked first, as in every service that changes the rater's items
    return (
        Assignment.objects.select_related("rater__campaign")
        .select_for_update(of=("rater",))
        .get(pk=assignment_id, rater=rater)
    )


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
    hard_deadline = _hard_deadline(assignment, campaign)
    timed_out = verdict is None or now > hard_deadline
    state = Assignment.State.TIMED_OUT if timed_out else Assignment.State.ANSWERED
    # a conditional update claims the row on SQLite and PostgreSQL alike: no double submit
    claimed = Assignment.objects.filter(pk=assignment.pk, state=Assignment.State.OPEN).update(
        state=state
    )
    if not claimed:
        raise AssignmentClosed(assignment.pk)
    assignment.state = state
    server_ms = int((min(now, hard_deadline) - assignment.issued_at).total_seconds() * 1000)
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
    """Expire open assignments nobody answered or timed out, and free their items.

    The assignment row stays (state ``expired``), so an abandoned item is never silently lost
    from the record; the item goes back to the pool for another rater.
    """
    now = now or timezone.now()
    expired = 0
    for campaign in Campaign.objects.exclude(status=Campaign.Status.DRAFT).only("id", "grace_s"):
        cutoff = now - timedelta(seconds=campaign.grace_s) - EXPIRY_MARGIN
        overdue = Assignment.objects.filter(
            rater__campaign=campaign, state=Assignment.State.OPEN, deadline__lt=cutoff
        )
        # the raters' rows first, as every service locks them; a rater whose request holds
        # the row is skipped: that request decides the assignment's fate
        raters = list(
            Rater.objects.select_for_update(skip_locked=True).filter(
                pk__in=overdue.values("rater_id")
            )
        )
        rows = list(overdue.filter(rater__in=raters).values_list("id", "item_id", "is_practice"))
        if not rows:
            continue
        Assignment.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
            state=Assignment.State.EXPIRED
        )
        freed = Counter(item_id for _, item_id, is_practice in rows if not is_practice)
        for item_id, count in freed.items():
            CampaignItem.objects.filter(pk=item_id).update(remaining=F("remaining") + count)
        # rare, and in the background: counting afresh also mends any drift
        for rater in raters:
            rater_recount(rater=rater)
        expired += len(rows)
    return expired
