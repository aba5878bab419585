import matplotlib.pyplot as plt
import numpy as np
from matplotlib.container import ErrorbarContainer

from annotations.analysis import figures
from annotations.analysis.curves import CheckpointCurve
from annotations.analysis.report import Analysis
from annotations.analysis.rows import Estimate


def curve(run: str, checkpoint: str, *, round: int | None = None, step: int | None = None,
          accuracy: float = 0.8) -> CheckpointCurve:  # fmt: skip
    estimate = Estimate(accuracy, accuracy - 0.1, accuracy + 0.1)
    return CheckpointCurve(
        run=run, checkpoint=checkpoint, round=round, step=step, role="helpful", judgments=50,
        raters=5, accuracy=estimate, accuracy_on_correct=estimate, accuracy_on_incorrect=estimate,
        timeout_rate=Estimate(0.0, 0.0, 0.0), time_to_correct_s=Estimate(27.0, 25.0, 29.0),
        median_time_s=Estimate(26.0, 24.0, 28.0),
    )  # fmt: skip


def drawn(analysis: Analysis) -> dict[str, list[list[float]]]:
    """Per panel (by its x label), the x values of each line drawn."""
    figure = figures._accuracy(analysis)
    try:
        return {
            ax.get_xlabel(): [
                np.asarray(bars.lines[0].get_xdata()).tolist()
                for bars in ax.containers
                if isinstance(bars, ErrorbarContainer)
            ]
            for ax in figure.axes
        }
    finally:
        plt.close(figure)


def test_a_game_by_rounds_and_a_baseline_by_steps_get_a_panel_each():
    game = [curve("game", f"round-{r}", round=r) for r in range(3)]
    baseline = [curve("rl", f"step-{s}", step=s) for s in (0, 3000, 7000)]

    panels = drawn(Analysis(curves=game + baseline))

    assert panels == {"round": [[0, 1, 2]], "step": [[0, 3000, 7000]]}


def test_checkpoints_with_neither_round_nor_step_are_placed_in_order_and_named():
    panels = drawn(Analysis(curves=[curve("sizes", "6b"), curve("sizes", "175b")]))
    assert panels == {"checkpoint": [[0, 1]]}
    figure = figures._accuracy(Analysis(curves=[curve("sizes", "6b"), curve("sizes", "175b")]))
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == ["6b", "175b"]
    plt.close(figure)
