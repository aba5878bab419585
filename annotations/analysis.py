"""The legibility curves and the checks on raters: pure functions over judgment rows.

Nothing here touches the database: selectors turn judgments into ``Row`` values (the database
does the joining), and everything below is arithmetic on those rows, so it can be tested on
simulated judgments with a known truth."""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from scipy.stats import binomtest

CONFIDENCE = 0.95
BOOTSTRAP_REPLICATES = 1000
BOOTSTRAP_BATCH = 100  # replicates drawn at once: bounds memory on large cells
CHANCE_ALPHA = 0.05


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


@dataclass(frozen=True)
class CheckpointCurve:
    run: str
    checkpoint: str
    round: int | None
    step: int | None
    role: str
    judgments: int
    raters: int
    accuracy: Estimate
    accuracy_on_correct: Estimate
    accuracy_on_incorrect: Estimate
    timeout_rate: Estimate
    time_to_correct_s: Estimate  # the paper's metric: mean time of correct labels
    median_time_s: Estimate


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


@dataclass(frozen=True)
class QuartileAccuracy:
    run: str
    role: str
    quartile: int  # 1 = the problems the checkpoint found hardest
    pass_rate_low: float
    pass_rate_high: float
    judgments: int
    accuracy: Estimate


@dataclass(frozen=True)
class Trend:
    run: str
    role: str
    slope: float  # log-odds of a correct label per round
    low: float
    high: float
    p_value: float
    judgments: int


@dataclass
class Analysis:
    curves: list[CheckpointCurve] = field(default_factory=list)
    raters: list[RaterStats] = field(default_factory=list)
    quartiles: list[QuartileAccuracy] = field(default_factory=list)
    trends: list[Trend] = field(default_factory=list)
    excluded_raters: set[str] = field(default_factory=set)
    timeouts: Timeouts = Timeouts.WRONG
    judgments: int = 0  # how many judgments it was computed from


# --- raters ------------------------------------------------------------------------------


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
    scored = _scored(rows, timeouts)
    correct = sum(row.rater_correct for row in scored)
    p_value = chance_p_value(correct, len(scored))
    answered = [row.server_ms for row in rows if not row.timed_out]
    return RaterStats(
        rater=rater,
        judgments=len(rows),
        correct=correct,
        timeouts=sum(row.timed_out for row in rows),
        accuracy=correct / len(scored) if scored else None,
        p_value=p_value,
        flagged=at_chance(p_value, alpha),
        mean_time_s=float(np.mean(answered)) / 1000 if answered else None,
        position_slope=_position_slope(scored),
    )


def _position_slope(rows: list[Row]) -> float | None:
    if len(rows) < 3 or len({row.position for row in rows}) < 2:
        return None
    positions = np.array([row.position for row in rows], dtype=float)
    outcomes = np.array([row.rater_correct for row in rows], dtype=float)
    slope = np.polyfit(positions, outcomes, 1)[0]
    return float(slope * 10)


def _scored(rows: Sequence[Row], timeouts: Timeouts) -> list[Row]:
    if timeouts == Timeouts.EXCLUDED:
        return [row for row in rows if not row.timed_out]
    return list(rows)


# --- per-checkpoint curves ---------------------------------------------------------------


def checkpoint_curves(
    rows: Iterable[Row],
    *,
    timeouts: Timeouts = Timeouts.WRONG,
    replicates: int = BOOTSTRAP_REPLICATES,
    seed: int = 0,
) -> list[CheckpointCurve]:
    """Per run, checkpoint and role, with 95% intervals from a bootstrap that resamples raters
    and problems (a two-way cluster bootstrap: both vary between studies)."""
    cells: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        cells[(row.run, row.checkpoint, row.role)].append(row)
    rng = np.random.default_rng(seed)
    curves = [_curve(cells[key], timeouts, replicates, rng) for key in sorted(cells)]
    return sorted(curves, key=lambda c: (c.run, c.role, _order(c.round), _order(c.step)))


def _order(value: int | None) -> int:
    return -1 if value is None else value


def _curve(
    rows: list[Row], timeouts: Timeouts, replicates: int, rng: np.random.Generator
) -> CheckpointCurve:
    first = rows[0]
    correct = np.array([row.rater_correct for row in rows], dtype=bool)
    timed_out = np.array([row.timed_out for row in rows], dtype=bool)
    seconds = np.array([row.server_ms / 1000 for row in rows])
    sample_correct = np.array([row.sample_is_correct for row in rows], dtype=bool)
    everything = np.ones(len(rows), dtype=bool)
    scored = ~timed_out if timeouts == Timeouts.EXCLUDED else everything
    accuracy, on_correct, on_incorrect, timeout_rate, time_to_correct, median_time = (
        _ClusterBootstrap(rows, replicates, rng).estimate(
            means=[
                (correct, scored),
                (correct, scored & sample_correct),
                (correct, scored & ~sample_correct),
                (timed_out, everything),
                (seconds, correct),
            ],
            median=(seconds, ~timed_out),
        )
    )
    return CheckpointCurve(
        run=first.run,
        checkpoint=first.checkpoint,
        round=first.round,
        step=first.step,
        role=first.role,
        judgments=len(rows),
        raters=len({row.rater for row in rows}),
        accuracy=accuracy,
        accuracy_on_correct=on_correct,
        accuracy_on_incorrect=on_incorrect,
        timeout_rate=timeout_rate,
        time_to_correct_s=time_to_correct,
        median_time_s=median_time,
    )


class _ClusterBootstrap:
    """Replicate weights for rows: each replicate draws raters and problems with replacement;
    a row counts as often as its rater times as often as its problem was drawn. Every
    statistic of a cell is computed from the same draws, in one pass over them."""

    def __init__(self, rows: list[Row], replicates: int, rng: np.random.Generator) -> None:
        raters = sorted({row.rater for row in rows})
        problems = sorted({row.problem for row in rows})
        rater_index = {rater: i for i, rater in enumerate(raters)}
        problem_index = {problem: i for i, problem in enumerate(problems)}
        self.rater_of = np.array([rater_index[row.rater] for row in rows])
        self.problem_of = np.array([problem_index[row.problem] for row in rows])
        self.n_raters, self.n_problems = len(raters), len(problems)
        self.replicates = replicates
        self.rng = rng

    def _weights(self) -> Iterable[np.ndarray]:
        left = self.replicates
        while left > 0:
            batch = min(left, BOOTSTRAP_BATCH)
            raters = self.rng.multinomial(self.n_raters, [1 / self.n_raters] * self.n_raters, batch)
            problems = self.rng.multinomial(
                self.n_problems, [1 / self.n_problems] * self.n_problems, batch
            )
            # floats, so the sums below are BLAS matrix products
            yield (raters[:, self.rater_of] * problems[:, self.problem_of]).astype(np.float64)
            left -= batch

    def estimate(
        self,
        *,
        means: list[tuple[np.ndarray, np.ndarray]],
        median: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> list[Estimate]:
        """Means of values over masked rows, then the median, each with its interval."""
        # columns: each mean's masked values, then its mask; a weighted sum of each column
        # gives numerator and denominator of every replicate's mean at once
        columns = np.column_stack(
            [np.where(mask, values, 0.0) for values, mask in means]
            + [mask.astype(np.float64) for _, mask in means]
        )
        replicate_means: list[list[float]] = [[] for _ in means]
        replicate_medians: list[float] = []
        if median is not None:
            median_values, median_mask = median
            order = np.flatnonzero(median_mask)[np.argsort(median_values[median_mask])]
            ordered = median_values[order]
        for weights in self._weights():
            sums = weights @ columns
            for index in range(len(means)):
                totals = sums[:, len(means) + index]
                ok = totals > 0
                replicate_means[index].extend(sums[ok, index] / totals[ok])
            if median is not None and len(order):
                cumulative = np.cumsum(weights[:, order], axis=1)
                totals = cumulative[:, -1]
                ok = totals > 0
                halfway = (cumulative[ok] >= (totals[ok] / 2)[:, None]).argmax(axis=1)
                replicate_medians.extend(ordered[halfway])
        estimates = [
            _interval(float(values[mask].mean()), replicate_means[index])
            if mask.any()
            else Estimate(None, None, None)
            for index, (values, mask) in enumerate(means)
        ]
        if median is not None:
            estimates.append(
                _interval(float(np.median(ordered)), replicate_medians)
                if len(order)
                else Estimate(None, None, None)
            )
        return estimates

    def mean(self, values: np.ndarray, mask: np.ndarray) -> Estimate:
        return self.estimate(means=[(values, mask)])[0]


def _interval(point: float, estimates: list[float]) -> Estimate:
    if not estimates:
        return Estimate(point, None, None)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return Estimate(point, float(low), float(high))


# --- accuracy by the checkpoint's own pass rate (the paper's Fig. 4d) --------------------


def accuracy_by_pass_rate_quartile(
    rows: Iterable[Row], *, timeouts: Timeouts = Timeouts.WRONG, seed: int = 0
) -> list[QuartileAccuracy]:
    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.pass_rate is not None:
            groups[(row.run, row.role)].append(row)
    rng = np.random.default_rng(seed)
    result = []
    for (run, role), group in sorted(groups.items()):
        rates = np.array([row.pass_rate for row in group], dtype=float)
        edges = np.quantile(rates, [0, 0.25, 0.5, 0.75, 1])
        bins = np.clip(np.searchsorted(edges, rates, side="right") - 1, 0, 3)
        for quartile in range(4):
            members = [row for row, b in zip(group, bins, strict=True) if b == quartile]
            scored = _scored(members, timeouts)
            if not scored:
                continue
            boot = _ClusterBootstrap(scored, BOOTSTRAP_REPLICATES // 2, rng)
            correct = np.array([row.rater_correct for row in scored], dtype=float)
            result.append(
                QuartileAccuracy(
                    run=run,
                    role=role,
                    quartile=quartile + 1,
                    pass_rate_low=float(edges[quartile]),
                    pass_rate_high=float(edges[quartile + 1]),
                    judgments=len(scored),
                    accuracy=boot.mean(correct, np.ones(len(scored), bool)),
                )
            )
    return result


# --- the trend over rounds ----------------------------------------------------------------


def round_trends(rows: Iterable[Row], *, timeouts: Timeouts = Timeouts.WRONG) -> list[Trend]:
    """A logistic model of a correct label on the round, errors clustered by rater (GEE with
    an exchangeable working correlation), per run and role with at least two rounds."""
    import pandas as pd
    import statsmodels.api as sm
    import statsmodels.formula.api as smf
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    groups: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in _scored(list(rows), timeouts):
        if row.round is not None:
            groups[(row.run, row.role)].append(row)
    trends = []
    for (run, role), group in sorted(groups.items()):
        if len({row.round for row in group}) < 2 or len({row.rater for row in group}) < 2:
            continue
        frame = pd.DataFrame(
            {
                "correct": [int(row.rater_correct) for row in group],
                "round": [row.round for row in group],
                "rater": [row.rater for row in group],
            }
        )
        model = smf.gee(
            "correct ~ round",
            groups="rater",
            data=frame,
            family=sm.families.Binomial(),
            cov_struct=sm.cov_struct.Exchangeable(),
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit = model.fit()
            low, high = fit.conf_int(alpha=1 - CONFIDENCE).loc["round"]
            p_value = fit.pvalues["round"]
        # Too few judgments, or all of them right: the numbers come out infinite, or finite but
        # meaningless (an interval of ±1e-9 around 0). Either way there is no trend to show.
        separated = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
        if separated or not np.all(np.isfinite([fit.params["round"], low, high, p_value])):
            continue
        trends.append(
            Trend(
                run=run,
                role=role,
                slope=float(fit.params["round"]),
                low=float(low),
                high=float(high),
                p_value=float(p_value),
                judgments=len(group),
            )
        )
    return trends


# --- all of it ----------------------------------------------------------------------------


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
        trends=round_trends(kept, timeouts=timeouts),
        excluded_raters=excluded,
        timeouts=timeouts,
        judgments=len(rows),
    )
