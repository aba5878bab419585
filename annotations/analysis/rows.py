"""What the analysis reads: one row per main-item judgment, and the shape of an estimate.

Nothing in ``annotations.analysis`` touches the database: selectors turn judgments into
``Row`` values (the database does the joining), and everything else is arithmetic on those
rows, so it can be tested on simulated judgments with a known truth."""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

CONFIDENCE = 0.95


class Timeouts(StrEnum):
    WRONG = "wrong"  # a timeout counts as a wrong answer (the default)
    EXCLUDED = "excluded"  # timeouts are left out of accuracy


@dataclass(frozen=True)
class Row:
    """One main-item judgment, with what the analysis needs to know about it."""

    rater: str
    problem: str
    run: str
    checkpoint: str
    round: int | None
    step: int | None
    role: str
    sample_is_correct: bool
    verdict: str  # "correct", "incorrect", or "" for a timeout
    timed_out: bool
    server_ms: int
    position: int = 0
    pass_rate: float | None = None  # the checkpoint's own pass rate on this problem
    hidden_ms: int | None = None  # how long the page was hidden while the item was open
    level: int | None = None  # the problem's difficulty level, where it has one (MATH)

    @property
    def rater_correct(self) -> bool:
        return not self.timed_out and (self.verdict == "correct") == self.sample_is_correct


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


def rows_counted(rows: Sequence[Row], timeouts: Timeouts) -> list[Row]:
    """The rows that count towards accuracy: all, or those that are not timeouts."""
    if timeouts == Timeouts.EXCLUDED:
        return [row for row in rows if not row.timed_out]
    return list(rows)
