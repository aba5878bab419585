"""The checks on raters: accuracy, a one-sided binomial test against chance, and the drift of
accuracy over a rater's positions (learning or fatigue)."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import binomtest

from annotations.analysis.rows import Row, Timeouts, rows_counted

CHANCE_ALPHA = 0.05
# An item counts as one the rater left when the page was hidden (another tab, another window)
# for this long; a rater who left at least this share of their items, and this many, is
# flagged as switching tabs (looking answers up, or not paying attention).
HIDDEN_ITEM_MS = 1000
TAB_SWITCH_SHARE = 0.2
TAB_SWITCH_MIN_ITEMS = 3


@dataclass(frozen=True)
class RaterStats:
    rater: str
    judgments: int
    correct: int
    timeouts: int
    accuracy: float | None
    p_value: float | None  # one-sided binomial test against chance (0.5)
    flagged: bool  # indistinguishable from chance
    mean_time_s: float | None
    position_slope: float | None  # change in accuracy per 10 positions: learning or fatigue
    hidden_items: int = 0  # items during which the page was hidden for a second or more
    hidden_s: float = 0.0  # time the page was hidden, over all items
    tab_switching: bool = False  # hidden on at least a fifth of the items (and 3 or more)


def rater_stats(
    rows: Iterable[Row], *, timeouts: Timeouts = Timeouts.WRONG, alpha: float = CHANCE_ALPHA
) -> list[RaterStats]:
    by_rater: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_rater[row.rater].append(row)
    return [_one_rater(rater, by_rater[rater], timeouts, alpha) for rater in sorted(by_rater)]


def chance_p_value(correct: int, judged: int) -> float | None:
    """One-sided binomial test: how likely this many right answers are from guessing."""
    if judged == 0:
        return None
    return float(binomtest(correct, judged, 0.5, alternative="greater").pvalue)


def at_chance(p_value: float | None, alpha: float = CHANCE_ALPHA) -> bool:
    return p_value is None or p_value >= alpha


def _one_rater(rater: str, rows: list[Row], timeouts: Timeouts, alpha: float) -> RaterStats:
    counted = rows_counted(rows, timeouts)
    correct = sum(row.rater_correct for row in counted)
    p_value = chance_p_value(correct, len(counted))
    answered = [row.server_ms for row in rows if not row.timed_out]
    return RaterStats(
        rater=rater,
        judgments=len(rows),
        correct=correct,
        timeouts=sum(row.timed_out for row in rows),
        accuracy=correct / len(counted) if counted else None,
        p_value=p_value,
        flagged=at_chance(p_value, alpha),
        mean_time_s=float(np.mean(answered)) / 1000 if answered else None,
        position_slope=_position_slope(counted),
        **_tab_switching(rows),
    )


def _tab_switching(rows: list[Row]) -> dict[str, Any]:
    hidden = [row.hidden_ms or 0 for row in rows]
    left = sum(ms >= HIDDEN_ITEM_MS for ms in hidden)
    return {
        "hidden_items": left,
        "hidden_s": sum(hidden) / 1000,
        "tab_switching": left >= TAB_SWITCH_MIN_ITEMS and left >= TAB_SWITCH_SHARE * len(rows),
    }


def _position_slope(rows: list[Row]) -> float | None:
    if len(rows) < 3 or len({row.position for row in rows}) < 2:
        return None
    positions = np.array([row.position for row in rows], dtype=float)
    outcomes = np.array([row.rater_correct for row in rows], dtype=float)
    slope = np.polyfit(positions, outcomes, 1)[0]
    return float(slope * 10)
