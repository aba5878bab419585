"""Everything the dashboard, the API and the CSVs show for a campaign, computed from its rows:
the raters and who is at chance, the curves without them, the quartiles, the problems' levels
and the trends."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from annotations.analysis.bootstrap import BOOTSTRAP_REPLICATES
from annotations.analysis.curves import (
    CheckpointCurve,
    LevelAccuracy,
    QuartileAccuracy,
    accuracy_by_level,
    accuracy_by_pass_rate_quartile,
    checkpoint_curves,
)
from annotations.analysis.raters import RaterStats, rater_stats
from annotations.analysis.rows import Row, Timeouts
from annotations.analysis.trends import Trend, round_trends


@dataclass
class Analysis:
    curves: list[CheckpointCurve] = field(default_factory=list)
    raters: list[RaterStats] = field(default_factory=list)
    quartiles: list[QuartileAccuracy] = field(default_factory=list)
    levels: list[LevelAccuracy] = field(default_factory=list)  # MATH's difficulty levels
    trends: list[Trend] = field(default_factory=list)
    excluded_raters: set[str] = field(default_factory=set)
    timeouts: Timeouts = Timeouts.WRONG
    judgments: int = 0  # how many judgments it was computed from


def analyse(
    rows: Sequence[Row],
    *,
    timeouts: Timeouts = Timeouts.WRONG,
    exclude_chance_raters: bool = True,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
) -> Analysis:
    raters = rater_stats(rows, timeouts=timeouts)
    excluded = {r.rater for r in raters if r.flagged} if exclude_chance_raters else set()
    kept = [row for row in rows if row.rater not in excluded]
    return Analysis(
        curves=checkpoint_curves(kept, timeouts=timeouts, replicates=replicates, seed=seed),
        raters=raters,
        quartiles=accuracy_by_pass_rate_quartile(kept, timeouts=timeouts, seed=seed),
        levels=accuracy_by_level(kept, timeouts=timeouts, seed=seed),
        trends=round_trends(kept, timeouts=timeouts),
        excluded_raters=excluded,
        timeouts=timeouts,
        judgments=len(rows),
    )
