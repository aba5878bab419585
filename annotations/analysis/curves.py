"""The legibility curves: per run, checkpoint and role, accuracy (overall and split by the
solution's correctness), timeout rate, the paper's mean time to correctly label and the median
time, each with its bootstrap interval; accuracy by quartile of the checkpoint's own pass rate
on the problem (the paper's Fig. 4d); and accuracy by the problem's difficulty level, where
problems have one (MATH)."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from annotations.analysis.bootstrap import BOOTSTRAP_REPLICATES, ClusterBootstrap
from annotations.analysis.rows import Estimate, Row, Timeouts, rows_counted


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
class QuartileAccuracy:
    run: str
    role: str
    quartile: int  # 1 = the problems the checkpoint found hardest
    pass_rate_low: float
    pass_rate_high: float
    judgments: int
    accuracy: Estimate


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
        ClusterBootstrap(rows, replicates, rng).estimate(
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


@dataclass(frozen=True)
class LevelAccuracy:
    run: str
    role: str
    level: int  # MATH's 1 (easiest) to 5
    judgments: int
    accuracy: Estimate


def _accuracy_of(rows: list[Row], rng: np.random.Generator) -> Estimate:
    boot = ClusterBootstrap(rows, BOOTSTRAP_REPLICATES // 2, rng)
    correct = np.array([row.rater_correct for row in rows], dtype=float)
    return boot.mean(correct, np.ones(len(rows), bool))


def accuracy_by_level(
    rows: Iterable[Row], *, timeouts: Timeouts = Timeouts.WRONG, seed: int = 0
) -> list[LevelAccuracy]:
    """Per run, role and problem level, where problems have levels."""
    groups: dict[tuple[str, str, int], list[Row]] = defaultdict(list)
    for row in rows:
        if row.level is not None:
            groups[(row.run, row.role, row.level)].append(row)
    rng = np.random.default_rng(seed)
    found = []
    for (run, role, level), group in sorted(groups.items()):
        counted = rows_counted(group, timeouts)
        if counted:
            found.append(LevelAccuracy(run, role, level, len(counted), _accuracy_of(counted, rng)))
    return found


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
            counted = rows_counted(members, timeouts)
            if not counted:
                continue
            result.append(
                QuartileAccuracy(
                    run=run,
                    role=role,
                    quartile=quartile + 1,
                    pass_rate_low=float(edges[quartile]),
                    pass_rate_high=float(edges[quartile + 1]),
                    judgments=len(counted),
                    accuracy=_accuracy_of(counted, rng),
                )
            )
    return result
