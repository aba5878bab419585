"""The paper's figures, drawn with matplotlib: accuracy and time to correctly label against the
round, or the step for runs without rounds, in a panel of their own (one line per run and role,
95% intervals as error bars), and accuracy by the quartile of the checkpoint's own pass rate."""

import io
from collections import defaultdict
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: figures are files
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from annotations.analysis.curves import CheckpointCurve
from annotations.analysis.report import Analysis
from annotations.analysis.rows import Estimate

FIGURES = {
    "accuracy": "Human judge accuracy",
    "time": "Time to correctly label (s)",
    "quartiles": "Accuracy by the checkpoint's pass rate",
}
FORMATS = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}
ROLE_STYLE = {"helpful": "-", "sneaky": "--", "none": ":"}


def render(analysis: Analysis, name: str, fmt: str) -> bytes:
    figure = {"accuracy": _accuracy, "time": _time, "quartiles": _quartiles}[name](analysis)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, bbox_inches="tight", metadata=_metadata(fmt))
    plt.close(figure)
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    # no creation date: the same analysis draws the same bytes
    by_format: dict[str, dict[str, str | None]] = {
        "svg": {"Date": None},
        "pdf": {"CreationDate": None},
    }
    return by_format.get(fmt, {})


Lines = dict[tuple[str, str], list[CheckpointCurve]]  # (run, role) -> its checkpoints


def _panels(analysis: Analysis) -> dict[str, Lines]:
    """The lines grouped by what places a run's checkpoints: "round", "step", or only their
    order ("checkpoint"). A game's rounds and a baseline's optimiser steps get a panel each
    rather than one axis where round 5 sits next to step 0."""
    lines: Lines = defaultdict(list)
    for curve in analysis.curves:
        lines[(curve.run, curve.role)].append(curve)
    panels: dict[str, Lines] = defaultdict(dict)
    for key, curves in sorted(lines.items()):
        panels[_placed_by(curves)][key] = curves
    return {kind: panels[kind] for kind in ("round", "step", "checkpoint") if kind in panels}


def _placed_by(curves: list[CheckpointCurve]) -> str:
    if all(c.round is not None for c in curves):
        return "round"
    if all(c.step is not None for c in curves):
        return "step"
    return "checkpoint"


def _x(curve: CheckpointCurve, kind: str, names: list[str]) -> float:
    value = {"round": curve.round, "step": curve.step}.get(kind)
    return names.index(curve.checkpoint) if value is None else value


def _series(analysis: Analysis, pick: str, ylabel: str, *, chance: bool = False) -> Figure:
    panels = _panels(analysis) or {"round": {}}
    figure, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels) + 1, 4), sharey=True, squeeze=False
    )
    colours = _colours([key for lines in panels.values() for key in lines])
    for ax, (kind, lines) in zip(axes[0], panels.items(), strict=True):
        names = list(dict.fromkeys(c.checkpoint for curves in lines.values() for c in curves))
        for (run, role), curves in lines.items():
            points = [(_x(c, kind, names), getattr(c, pick)) for c in curves]
            points = [(x, e) for x, e in points if e.value is not None]
            if points:
                xs, estimates = [x for x, _ in points], [e for _, e in points]
                _line(ax, xs, estimates, run, role, colours[(run, role)])
        ax.set_xlabel(kind)
        if kind == "checkpoint":  # no round or step to place them by: name them in order
            ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
        if chance:
            ax.axhline(0.5, color="#999999", linewidth=0.8, linestyle=":")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].set_title(_caption(analysis), fontsize=8, loc="left", color="#555555")
    return figure


def _colours(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """One colour per run and role, the same in every panel and figure."""
    return {key: f"C{index % 10}" for index, key in enumerate(sorted(set(keys)))}


def _line(
    ax: Axes, xs: Sequence[float], estimates: list[Estimate], run: str, role: str, colour: str
) -> None:
    """One run and role: points with their 95% intervals as error bars."""
    errors = [_error_bar(estimate) for estimate in estimates]
    ax.errorbar(
        xs,
        [estimate.value or 0.0 for estimate in estimates],
        yerr=list(zip(*errors, strict=True)),
        capsize=3,
        marker="o",
        linestyle=ROLE_STYLE.get(role, "-"),
        label=f"{run} ({role})",
        color=colour,
    )


def _error_bar(estimate: Estimate) -> tuple[float, float]:
    if estimate.low is None or estimate.high is None or estimate.value is None:
        return (0.0, 0.0)
    return (max(0.0, estimate.value - estimate.low), max(0.0, estimate.high - estimate.value))


def _caption(analysis: Analysis) -> str:
    timeouts = "timeouts count as wrong" if analysis.timeouts == "wrong" else "timeouts excluded"
    raters = (
        f"{len(analysis.excluded_raters)} chance-level raters excluded"
        if analysis.excluded_raters
        else "no raters excluded"
    )
    return f"95% intervals (bootstrap over raters and problems); {timeouts}; {raters}"


def _accuracy(analysis: Analysis) -> Figure:
    return _series(analysis, "accuracy", FIGURES["accuracy"], chance=True)


def _time(analysis: Analysis) -> Figure:
    return _series(analysis, "time_to_correct_s", FIGURES["time"])


def _quartiles(analysis: Analysis) -> Figure:
    figure, ax = plt.subplots(figsize=(6, 4))
    groups = defaultdict(list)
    for quartile in analysis.quartiles:
        groups[(quartile.run, quartile.role)].append(quartile)
    colours = _colours(list(groups))
    for (run, role), quartiles in sorted(groups.items()):
        xs, estimates = [q.quartile for q in quartiles], [q.accuracy for q in quartiles]
        _line(ax, xs, estimates, run, role, colours[(run, role)])
    ax.set_xticks([1, 2, 3, 4], ["Q1 (hardest)", "Q2", "Q3", "Q4 (easiest)"])
    ax.set_xlabel("quartile of the checkpoint's own pass rate on the problem")
    ax.set_ylabel(FIGURES["accuracy"])
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    ax.set_title(_caption(analysis), fontsize=8, loc="left", color="#555555")
    return figure
