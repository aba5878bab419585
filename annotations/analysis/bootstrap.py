"""The rater × problem bootstrap behind every interval: each replicate draws raters and
problems with replacement, and a row counts as often as its rater times as often as its problem
was drawn (a two-way cluster bootstrap: both vary between studies)."""

from collections.abc import Iterable

import numpy as np

from annotations.analysis.rows import CONFIDENCE, Estimate, Row

BOOTSTRAP_REPLICATES = 1000
BOOTSTRAP_BATCH = 100  # replicates drawn at once: bounds memory on large cells


class ClusterBootstrap:
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
            interval(float(values[mask].mean()), replicate_means[index])
            if mask.any()
            else Estimate(None, None, None)
            for index, (values, mask) in enumerate(means)
        ]
        if median is not None:
            estimates.append(
                interval(float(np.median(ordered)), replicate_medians)
                if len(order)
                else Estimate(None, None, None)
            )
        return estimates

    def mean(self, values: np.ndarray, mask: np.ndarray) -> Estimate:
        return self.estimate(means=[(values, mask)])[0]


def interval(point: float, estimates: list[float]) -> Estimate:
    if not estimates:
        return Estimate(point, None, None)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return Estimate(point, float(low), float(high))
