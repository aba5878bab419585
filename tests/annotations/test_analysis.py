"""The analysis recovers a known truth from simulated judgments."""

import warnings

import numpy as np
import pytest

from annotations.analysis.curves import accuracy_by_pass_rate_quartile, checkpoint_curves
from annotations.analysis.raters import rater_stats
from annotations.analysis.report import analyse
from annotations.analysis.rows import Row, Timeouts
from annotations.analysis.trends import round_trends

TRUE_ACCURACY = {0: 0.62, 1: 0.72, 2: 0.84}  # per round
TRUE_SECONDS_CORRECT = {0: 30.0, 1: 27.0, 2: 24.0}


def simulate(
    *, seed: int, raters: int = 30, chance_raters: int = 0, per_rater: int = 60,
    timeout_rate: float = 0.0, rater_sd: float = 0.0, problem_sd: float = 0.0,
) -> list[Row]:  # fmt: skip
    """Raters judge items of three rounds; a chance rater answers at random."""
    rng = np.random.default_rng(seed)
    problems = [f"p{i}" for i in range(200)]
    problem_effect = dict(zip(problems, rng.normal(0, problem_sd, len(problems)), strict=True))
    rows = []
    for r in range(raters + chance_raters):
        at_chance = r >= raters
        effect = rng.normal(0, rater_sd)
        for position, problem in enumerate(rng.choice(problems, per_rater, replace=False)):
            round_ = position % 3
            p = TRUE_ACCURACY[round_]
            logit = np.log(p / (1 - p)) + effect + problem_effect[problem]
            p_correct = 0.5 if at_chance else 1 / (1 + np.exp(-logit))
            sample_correct = bool(rng.random() < 0.5)
            timed_out = bool(rng.random() < timeout_rate)
            right = bool(rng.random() < p_correct)
            verdict = "" if timed_out else ("correct" if right == sample_correct else "incorrect")
            seconds = rng.gamma(9.0, TRUE_SECONDS_CORRECT[round_] / 9.0)
            rows.append(Row(
                rater=f"r{r}", problem=str(problem), run="pvg", checkpoint=f"round-{round_}",
                round=round_, step=None, role="helpful", sample_is_correct=sample_correct,
                verdict=verdict, timed_out=timed_out, server_ms=int(seconds * 1000),
                position=position + 1, pass_rate=float(rng.random()),
            ))  # fmt: skip
    return rows


def test_accuracy_and_time_recover_the_truth_within_their_intervals():
    curves = checkpoint_curves(simulate(seed=1), replicates=1000)
    assert [c.checkpoint for c in curves] == ["round-0", "round-1", "round-2"]
    for curve in curves:
        truth = TRUE_ACCURACY[curve.round]
        assert curve.accuracy.low <= truth <= curve.accuracy.high, curve
        assert abs(curve.accuracy.value - truth) < 0.06
        seconds = TRUE_SECONDS_CORRECT[curve.round]
        assert curve.time_to_correct_s.low <= seconds <= curve.time_to_correct_s.high, curve
        assert curve.median_time_s.low < curve.median_time_s.value < curve.median_time_s.high
        assert curve.accuracy_on_correct.value is not None
        assert curve.accuracy_on_incorrect.value is not None


def test_chance_raters_are_flagged_and_left_out_of_the_curves():
    rows = simulate(seed=2, raters=20, chance_raters=4)
    stats = {s.rater: s for s in rater_stats(rows)}
    flagged = {rater for rater, s in stats.items() if s.flagged}
    assert {"r20", "r21", "r22", "r23"} <= flagged
    assert len(flagged) <= 5  # at most a rare honest rater with a bad day

    analysis = analyse(rows, replicates=200)
    assert analysis.excluded_raters == flagged
    kept = analyse(rows, replicates=200, exclude_chance_raters=False)
    assert kept.curves[0].raters == 24 and analysis.curves[0].raters == 24 - len(flagged)


def test_timeouts_count_as_wrong_by_default_or_are_left_out():
    rows = simulate(seed=3, timeout_rate=0.2)
    wrong = checkpoint_curves(rows, replicates=100)[0]
    excluded = checkpoint_curves(rows, timeouts=Timeouts.EXCLUDED, replicates=100)[0]
    assert wrong.accuracy.value < excluded.accuracy.value
    assert abs(wrong.timeout_rate.value - 0.2) < 0.05
    assert abs(excluded.accuracy.value - TRUE_ACCURACY[0]) < 0.07


def test_interval_coverage_is_close_to_95_percent():
    """Raters and problems differ (random effects), as in a real study; the truth is the
    population accuracy those effects average to."""
    rater_sd, problem_sd = 0.5, 0.5
    rng = np.random.default_rng(0)
    p = TRUE_ACCURACY[1]
    logits = (
        np.log(p / (1 - p)) + rng.normal(0, rater_sd, 400_000) + rng.normal(0, problem_sd, 400_000)
    )
    truth = float(np.mean(1 / (1 + np.exp(-logits))))
    covered = 0
    simulations = 120
    for seed in range(simulations):
        rows = simulate(seed=100 + seed, raters=25, per_rater=45, rater_sd=rater_sd,
                        problem_sd=problem_sd)  # fmt: skip
        curve = checkpoint_curves([r for r in rows if r.round == 1], replicates=300, seed=seed)[0]
        covered += curve.accuracy.low <= truth <= curve.accuracy.high
    coverage = covered / simulations
    assert 0.88 <= coverage <= 0.995, coverage


def test_the_trend_over_rounds_is_found_with_rater_clustered_errors():
    (trend,) = round_trends(simulate(seed=4))
    assert trend.slope > 0 and trend.p_value < 0.01
    assert trend.low < trend.slope < trend.high


def test_a_flat_curve_shows_no_trend():
    rows = [r for r in simulate(seed=5) if r.round == 1]
    rows = [Row(**{**r.__dict__, "round": (r.position // 3) % 3}) for r in rows]
    (trend,) = round_trends(rows)
    assert trend.low < 0 < trend.high


def test_a_trend_the_judgments_cannot_estimate_is_left_out_quietly():
    """Two raters right on every item: the model cannot be fitted (perfect separation). The
    trend is left out, without statsmodels' warnings reaching a command's or a log's output."""
    rows = simulate(seed=6, raters=2, per_rater=6)
    rows = [Row(**{**r.__dict__, "verdict": "correct" if r.sample_is_correct else "incorrect"})
            for r in rows]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert round_trends(rows) == []


def test_accuracy_by_pass_rate_quartile_covers_every_judgment():
    rows = simulate(seed=6)
    quartiles = accuracy_by_pass_rate_quartile(rows)
    assert [q.quartile for q in quartiles] == [1, 2, 3, 4]
    assert sum(q.judgments for q in quartiles) == len(rows)
    assert quartiles[0].pass_rate_high <= quartiles[3].pass_rate_low


def test_the_bootstrap_is_seeded_and_reproducible():
    rows = simulate(seed=7)
    assert checkpoint_curves(rows, seed=11, replicates=200) == checkpoint_curves(
        rows, seed=11, replicates=200
    )


@pytest.mark.parametrize("timeouts", list(Timeouts))
def test_a_rater_with_no_scored_answers_is_flagged_not_crashing(timeouts):
    row = simulate(seed=8, raters=1, per_rater=1, timeout_rate=1.0)[0]
    (stats,) = rater_stats([row], timeouts=timeouts)
    assert stats.flagged


def test_a_rater_who_keeps_switching_tabs_is_flagged_and_one_who_glanced_away_once_is_not():
    def rows(rater: str, hidden: list[int]) -> list[Row]:
        return [
            Row(rater=rater, problem=f"p{n}", run="r", checkpoint="c", round=0, step=None,
                role="none", sample_is_correct=True, verdict="correct", timed_out=False,
                server_ms=9000, position=n + 1, hidden_ms=ms)
            for n, ms in enumerate(hidden)
        ]  # fmt: skip

    stats = {
        s.rater: s
        for s in rater_stats(
            rows("switcher", [0, 4000, 0, 2500, 0, 9000, 0, 0, 1200, 0])
            + rows("glancer", [0, 0, 30_000, 0, 0, 0, 0, 0, 0, 0, 0, 400])
        )
    }
    assert stats["switcher"].tab_switching
    assert (stats["switcher"].hidden_items, stats["switcher"].hidden_s) == (4, 16.7)
    assert not stats["glancer"].tab_switching
    assert stats["glancer"].hidden_items == 1


def test_accuracy_by_level_recovers_each_levels_truth():
    from annotations.analysis.curves import accuracy_by_level

    rng = np.random.default_rng(5)
    truth = {1: 0.9, 3: 0.7, 5: 0.55}
    rows = [
        Row(rater=f"r{r}", problem=f"p{level}-{n}", run="math", checkpoint="c", round=0,
            step=None, role="none", sample_is_correct=True,
            verdict="correct" if rng.random() < truth[level] else "incorrect",
            timed_out=False, server_ms=9000, level=level)
        for level in truth for r in range(20) for n in range(30)
    ]  # fmt: skip
    found = {row.level: row for row in accuracy_by_level(rows)}
    assert set(found) == {1, 3, 5}
    for level, accuracy in truth.items():
        estimate = found[level].accuracy
        assert estimate.low <= accuracy <= estimate.high, (level, estimate)
    assert accuracy_by_level([row for row in rows if False]) == []
