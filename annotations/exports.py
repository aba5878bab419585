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
