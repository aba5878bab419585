"""CSV exports, written as they are read: memory stays flat however many judgments there are."""

import csv
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max

from annotations.analysis import Analysis, Timeouts, analyse
from annotations.models import Campaign
from annotations.selectors import (
    JUDGMENT_COLUMNS,
    analysis_rows,
    judgment_export_rows,
    main_judgments,
)

ANALYSIS_CACHE_S = 60 * 60
logger = logging.getLogger(__name__)


class _Line:
    """csv.writer's file: hands back each line instead of keeping it."""

    def write(self, text: str) -> str:
        return text


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(_plain(value) for value in row)


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def judgments_csv(campaign: Campaign, *, timeouts: Timeouts = Timeouts.WRONG) -> Iterator[str]:
    return csv_lines(JUDGMENT_COLUMNS, judgment_export_rows(campaign, timeouts=timeouts))


def campaign_analysis(
    campaign: Campaign, *, timeouts: Timeouts = Timeouts.WRONG, exclude_chance_raters: bool = True
) -> Analysis:
    """The campaign's analysis, computed once per new judgment (the bootstrap takes seconds on
    a large campaign; a dashboard poll must not redo it)."""
    judgments = main_judgments(campaign)
    state = judgments.aggregate(last=Max("pk"), count=Count("pk"))
    # created_at tells apart campaigns that reuse an id (a test database made anew, a restore)
    key = (
        f"analysis-{campaign.pk}-{campaign.created_at.timestamp()}-{state['last']}-"
        f"{state['count']}-{timeouts}-{exclude_chance_raters}"
    )
    try:
        found: Analysis | None = cache.get(key)
    except Exception:  # the cache (Redis) is down: compute, as without a cache
        logger.warning("analysis cache unavailable", exc_info=True)
        found = None
    if found is None:
        found = analyse(
            analysis_rows(campaign), timeouts=timeouts, exclude_chance_raters=exclude_chance_raters
        )
        try:
            cache.set(key, found, ANALYSIS_CACHE_S)
        except Exception:
            logger.warning("analysis cache unavailable", exc_info=True)
    return found


SUMMARY_COLUMNS = [
    "run",
    "checkpoint",
    "round",
    "step",
    "role",
    "judgments",
    "raters",
    "accuracy",
    "accuracy_low",
    "accuracy_high",
    "accuracy_on_correct",
    "accuracy_on_correct_low",
    "accuracy_on_correct_high",
    "accuracy_on_incorrect",
    "accuracy_on_incorrect_low",
    "accuracy_on_incorrect_high",
    "timeout_rate",
    "timeout_rate_low",
    "timeout_rate_high",
    "time_to_correct_s",
    "time_to_correct_s_low",
    "time_to_correct_s_high",
    "median_time_s",
    "median_time_s_low",
    "median_time_s_high",
    "timeouts",
    "excluded_raters",
]


def summary_csv(analysis: Analysis) -> Iterator[str]:
    rows = []
    for c in analysis.curves:
        row: list[Any] = [c.run, c.checkpoint, c.round, c.step, c.role, c.judgments, c.raters]
        for estimate in (
            c.accuracy,
            c.accuracy_on_correct,
            c.accuracy_on_incorrect,
            c.timeout_rate,
            c.time_to_correct_s,
            c.median_time_s,
        ):
            row += [_round(estimate.value), _round(estimate.low), _round(estimate.high)]
        row += [analysis.timeouts.value, len(analysis.excluded_raters)]
        rows.append(row)
    return csv_lines(SUMMARY_COLUMNS, rows)


RATER_COLUMNS = [
    "rater",
    "judgments",
    "correct",
    "timeouts",
    "accuracy",
    "p_value_vs_chance",
    "at_chance",
    "excluded",
    "mean_time_s",
    "accuracy_change_per_10_positions",
]


def raters_csv(analysis: Analysis) -> Iterator[str]:
    rows = [
        [
            r.rater,
            r.judgments,
            r.correct,
            r.timeouts,
            _round(r.accuracy),
            _round(r.p_value),
            r.flagged,
            r.rater in analysis.excluded_raters,
            _round(r.mean_time_s),
            _round(r.position_slope),
        ]
        for r in analysis.raters
    ]
    return csv_lines(RATER_COLUMNS, rows)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 5)
