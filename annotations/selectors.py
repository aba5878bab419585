"""Reads of the human side: judgments as analysis rows and export rows. The database does the
joining and the counting; nothing here issues a query per row."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.db.models import Avg, Case, Count, IntegerField, Q, QuerySet, Sum, When
from django.db.models.functions import TruncHour
from django.utils import timezone

from annotations.analysis import Row, Timeouts, at_chance, chance_p_value
from annotations.models import Assignment, Campaign, CampaignItem, Judgment
from legibility.models import Sample

CHUNK = 5000

# A judgment is right when it is no timeout and its verdict matches the sample's correctness.
RATER_CORRECT = Case(
    When(timed_out=True, then=False),
    When(verdict="correct", assignment__item__sample_is_correct=True, then=True),
    When(verdict="incorrect", assignment__item__sample_is_correct=False, then=True),
    default=False,
)


def main_judgments(campaign: Campaign) -> QuerySet[Judgment]:
    """The campaign's judgments on main items: practice is never analysed or exported."""
    return Judgment.objects.filter(
        assignment__rater__campaign=campaign, assignment__is_practice=False
    )


def pass_rates(campaign: Campaign) -> dict[tuple[int, int], float]:
    """Each (checkpoint, problem)'s share of correct samples: the checkpoint's own pass rate."""
    rows = (
        Sample.objects.filter(checkpoint__campaigns=campaign, is_correct__isnull=False)
        .values("checkpoint_id", "problem_id")
        .annotate(rate=Avg(Case(When(is_correct=True, then=1.0), default=0.0)))
    )
    return {(row["checkpoint_id"], row["problem_id"]): row["rate"] for row in rows}


def analysis_rows(campaign: Campaign) -> list[Row]:
    rates = pass_rates(campaign)
    fields = (
        "assignment__rater__pseudonym",
        "assignment__problem__external_id",
        "assignment__item__checkpoint__run__name",
        "assignment__item__checkpoint__name",
        "assignment__item__checkpoint__round",
        "assignment__item__checkpoint__step",
        "assignment__item__role",
        "assignment__item__sample_is_correct",
        "verdict",
        "timed_out",
        "server_ms",
        "assignment__position",
        "assignment__item__checkpoint_id",
        "assignment__problem_id",
    )
    return [
        Row(
            rater=rater,
            problem=problem,
            run=run,
            checkpoint=checkpoint,
            round=round_,
            step=step,
            role=role,
            sample_is_correct=sample_correct,
            verdict=verdict,
            timed_out=timed_out,
            server_ms=server_ms,
            position=position,
            pass_rate=rates.get((checkpoint_id, problem_id)),
        )
        for (
            rater,
            problem,
            run,
            checkpoint,
            round_,
            step,
            role,
            sample_correct,
            verdict,
            timed_out,
            server_ms,
            position,
            checkpoint_id,
            problem_id,
        ) in main_judgments(campaign).values_list(*fields).iterator(chunk_size=CHUNK)
    ]


def chance_raters(campaign: Campaign, *, timeouts: Timeouts = Timeouts.WRONG) -> set[str]:
    """Pseudonyms of raters indistinguishable from chance, counted in the database."""
    scored = Q(timed_out=False) if timeouts == Timeouts.EXCLUDED else Q()
    per_rater = (
        main_judgments(campaign)
        .values("assignment__rater__pseudonym")
        .annotate(
            judged=Count("id", filter=scored),
            correct=Sum(Case(When(RATER_CORRECT, then=1), default=0, output_field=IntegerField())),
        )
    )
    return {
        row["assignment__rater__pseudonym"]
        for row in per_rater
        if at_chance(chance_p_value(row["correct"], row["judged"]))
    }


JUDGMENT_COLUMNS = [
    "judgment_id",
    "campaign",
    "rater",
    "sample_id",
    "problem_id",
    "run",
    "checkpoint",
    "round",
    "step",
    "role",
    "sample_is_correct",
    "verdict",
    "rater_correct",
    "timed_out",
    "late",
    "client_ms",
    "hidden_ms",
    "server_ms",
    "issued_at",
    "answered_at",
    "session",
    "position_in_session",
    "excluded_rater",
]


def judgment_export_rows(
    campaign: Campaign, *, timeouts: Timeouts = Timeouts.WRONG
) -> Iterator[list[object]]:
    """One list per judgment in JUDGMENT_COLUMNS order, streamed in chunks from the database."""
    excluded = chance_raters(campaign, timeouts=timeouts)
    judgments = main_judgments(campaign)
    if timeouts == Timeouts.EXCLUDED:
        judgments = judgments.filter(timed_out=False)
    per_session = campaign.questions_per_session
    rows = _in_pages(
        judgments.order_by("pk")
        .annotate(rater_correct=RATER_CORRECT)
        .values_list(
            "pk",
            "assignment__rater__pseudonym",
            "assignment__item__sample_id",
            "assignment__problem__external_id",
            "assignment__item__checkpoint__run__name",
            "assignment__item__checkpoint__name",
            "assignment__item__checkpoint__round",
            "assignment__item__checkpoint__step",
            "assignment__item__role",
            "assignment__item__sample_is_correct",
            "verdict",
            "rater_correct",
            "timed_out",
            "late",
            "client_ms",
            "hidden_ms",
            "server_ms",
            "assignment__issued_at",
            "answered_at",
            "assignment__position",
        )
    )
    for pk, rater, *between, issued_at, answered_at, position in rows:
        yield [
            pk, campaign.slug, rater, *between, issued_at.isoformat(), answered_at.isoformat(),
            (position - 1) // per_session + 1, (position - 1) % per_session + 1,
            rater in excluded,
        ]  # fmt: skip


def _in_pages(rows: QuerySet[Judgment, tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """The rows of a values_list() ordered by pk and starting with it, CHUNK at a time, each page
    a query of its own that starts after the last pk seen. The first row comes at once: a
    server-side cursor outside a transaction is declared WITH HOLD, and PostgreSQL builds the
    whole result before handing over its first row (14.8 s at 1.6 million judgments). Judgments
    are only ever added, so the pages miss nothing that existed when the export began."""
    last_pk = None
    while True:
        page = list((rows if last_pk is None else rows.filter(pk__gt=last_pk))[:CHUNK])
        yield from page
        if len(page) < CHUNK:
            return
        last_pk = page[-1][0]


def campaign_progress(campaign: Campaign) -> list[dict[str, object]]:
    """Per cell: judgments wanted (items × judgments per item) and done, in one query."""
    rows = (
        CampaignItem.objects.filter(campaign=campaign, is_practice=False)
        .values(
            "checkpoint__run__name",
            "checkpoint__name",
            "checkpoint__round",
            "role",
            "sample_is_correct",
        )
        .annotate(
            items=Count("id", distinct=True),
            done=Count("assignments__judgment", distinct=True),
        )
        .order_by(
            "checkpoint__run__name",
            "checkpoint__round",
            "checkpoint__name",
            "role",
            "-sample_is_correct",
        )
    )
    return [
        {
            "run": row["checkpoint__run__name"],
            "checkpoint": row["checkpoint__name"],
            "role": row["role"],
            "sample_is_correct": row["sample_is_correct"],
            "target": row["items"] * campaign.judgments_per_item,
            "done": row["done"],
        }
        for row in rows
    ]


def judgments_per_hour(campaign: Campaign, *, hours: int = 24) -> list[tuple[str, int]]:
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        main_judgments(campaign)
        .filter(answered_at__gte=since)
        .annotate(hour=TruncHour("answered_at"))
        .values("hour")
        .annotate(n=Count("id"))
        .order_by("hour")
    )
    return [(row["hour"].strftime("%Y-%m-%d %H:00"), row["n"]) for row in rows]


def open_assignment_count(campaign: Campaign) -> int:
    return Assignment.objects.filter(rater__campaign=campaign, state=Assignment.State.OPEN).count()
