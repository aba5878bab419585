"""Reads of the human side: judgments as analysis rows, raters at chance, progress, and the
campaign's analysis (cached). The database does the joining and the counting; nothing here
issues a query per row or per campaign."""

import logging
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import (
    Avg,
    Case,
    Count,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from annotations.analysis.raters import at_chance, chance_p_value
from annotations.analysis.report import Analysis, analyse
from annotations.analysis.rows import Row, Timeouts
from annotations.models import Assignment, Campaign, CampaignItem, Judgment
from legibility.models import Sample

ANALYSIS_CACHE_S = 60 * 60
logger = logging.getLogger(__name__)

CHUNK = 5000

# A judgment is right when it is no timeout and its verdict matches the sample's correctness.
RATER_CORRECT = Case(
    When(timed_out=True, then=False),
    When(verdict="correct", assignment__item__sample_is_correct=True, then=True),
    When(verdict="incorrect", assignment__item__sample_is_correct=False, then=True),
    default=False,
)


def main_judgments(campaign: Campaign | OuterRef) -> QuerySet[Judgment]:
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


# A judgment's facts by the names the analysis and the exports give them, as lookups from a
# Judgment; a name not here is the judgment's own field.
LOOKUPS = {
    "rater": "assignment__rater__pseudonym",
    "problem": "assignment__problem__external_id",
    "problem_id": "assignment__problem__external_id",  # the exports' name for it
    "run": "assignment__item__checkpoint__run__name",
    "checkpoint": "assignment__item__checkpoint__name",
    "round": "assignment__item__checkpoint__round",
    "step": "assignment__item__checkpoint__step",
    "role": "assignment__item__role",
    "sample_is_correct": "assignment__item__sample_is_correct",
    "sample_id": "assignment__item__sample_id",
    "issued_at": "assignment__issued_at",
    "position": "assignment__position",
    "checkpoint_pk": "assignment__item__checkpoint_id",
    "problem_pk": "assignment__problem_id",
    "level": "assignment__problem__level",
}
# what Row needs, in the order of its fields
ROW_FIELDS = (
    "rater", "problem", "run", "checkpoint", "round", "step", "role", "sample_is_correct",
    "verdict", "timed_out", "server_ms", "position", "hidden_ms", "level",
)  # fmt: skip


def lookups(*names: str) -> list[str]:
    return [LOOKUPS.get(name, name) for name in names]


def analysis_rows(campaign: Campaign) -> list[Row]:
    rates = pass_rates(campaign)
    names = (*ROW_FIELDS, "checkpoint_pk", "problem_pk")
    found = []
    for values in main_judgments(campaign).values_list(*lookups(*names)).iterator(CHUNK):
        fields: dict[str, Any] = dict(zip(names, values, strict=True))
        fields["pass_rate"] = rates.get((fields.pop("checkpoint_pk"), fields.pop("problem_pk")))
        found.append(Row(**fields))
    return found


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


def campaign_progress(campaign: Campaign) -> list[dict[str, Any]]:
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


def campaigns_with_progress() -> list[tuple[Campaign, dict[str, int]]]:
    """Every campaign with its totals (judgments wanted, done, percent), in one query."""
    items = (
        CampaignItem.objects.filter(campaign=OuterRef("pk"), is_practice=False)
        .order_by()
        .values("campaign")
        .annotate(n=Count("id"))
        .values("n")
    )
    done = (
        main_judgments(OuterRef("pk"))
        .order_by()
        .values("assignment__rater__campaign")
        .annotate(n=Count("id"))
        .values("n")
    )
    campaigns = Campaign.objects.annotate(
        item_count=Coalesce(Subquery(items, output_field=IntegerField()), Value(0)),
        done_count=Coalesce(Subquery(done, output_field=IntegerField()), Value(0)),
    )
    return [
        (campaign, totals(campaign.item_count * campaign.judgments_per_item, campaign.done_count))
        for campaign in campaigns
    ]


def totals(target: int, done: int) -> dict[str, int]:
    return {"target": target, "done": done, "percent": round(100 * done / target) if target else 0}


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


def campaign_analysis(
    campaign: Campaign,
    *,
    timeouts: Timeouts = Timeouts.WRONG,
    exclude_chance_raters: bool = True,
    fresh: bool = False,
) -> Analysis:
    """The campaign's analysis. The bootstrap takes a minute on a million judgments, so results
    are cached: ``fresh`` asks for one covering every judgment so far (computing it if need
    be); otherwise the latest one computed will do, and only a campaign never analysed is
    computed on the spot. Beat refreshes live campaigns every few minutes."""
    switches = f"{timeouts}-{exclude_chance_raters}"
    # created_at tells apart campaigns that reuse an id (a test database made anew, a restore)
    latest_key = f"analysis-latest-{campaign.pk}-{campaign.created_at.timestamp()}-{switches}"
    state = main_judgments(campaign).aggregate(last=Max("pk"), count=Count("pk"))
    exact_key = f"{latest_key}-{state['last']}-{state['count']}"
    found = _cached(exact_key) or (None if fresh else _cached(latest_key))
    if found is None:
        found = analyse(
            analysis_rows(campaign), timeouts=timeouts, exclude_chance_raters=exclude_chance_raters
        )
        _cache(exact_key, found)
        _cache(latest_key, found)
    return found


def _cached(key: str) -> Analysis | None:
    try:
        found: Analysis | None = cache.get(key)
        return found
    except Exception:  # the cache (Redis) is down: compute, as without a cache
        logger.warning("analysis cache unavailable", exc_info=True)
        return None


def _cache(key: str, analysis: Analysis) -> None:
    try:
        cache.set(key, analysis, ANALYSIS_CACHE_S)
    except Exception:
        logger.warning("analysis cache unavailable", exc_info=True)
