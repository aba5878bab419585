"""The paper's figures, drawn with matplotlib: accuracy and time to correctly label against the
round (one line per run and role, 95% intervals as error bars), and accuracy by the quartile of
the checkpoint's own pass rate."""

import io
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # no display: figures are files
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from annotations.analysis import Analysis, CheckpointCurve, Estimate

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


def _x(curve: CheckpointCurve, index: int) -> float:
    if curve.round is not None:
        return curve.round
    if curve.step is not None:
        return curve.step
    return index  # the checkpoint's place in its line


def _lines(analysis: Analysis) -> dict[tuple[str, str], list[CheckpointCurve]]:
    lines: dict[tuple[str, str], list[CheckpointCurve]] = defaultdict(list)
    for curve in analysis.curves:
        lines[(curve.run, curve.role)].append(curve)
    return lines


def _series(ax: Axes, analysis: Analysis, pick: str, ylabel: str) -> Figure:
    for (run, role), curves in sorted(_lines(analysis).items()):
        points = [(_x(c, i), getattr(c, pick)) for i, c in enumerate(curves)]
        points = [(x, e) for x, e in points if e.value is not None]
        if not points:
            continue
        _line(ax, [x for x, _ in points], [e for _, e in points], run, role)
    label = _x_label(analysis)
    ax.set_xlabel(label)
    if label == "checkpoint":  # no round or step to place them by: name them in order
        names = list(dict.fromkeys(c.checkpoint for c in analysis.curves))
        ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.set_title(_caption(analysis), fontsize=8, loc="left", color="#555555")
    return ax.get_figure()  # type: ignore[return-value]


def _line(ax: Axes, xs: list[float], estimates: list[Estimate], run: str, role: str) -> None:
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
    )


def _error_bar(estimate: Estimate) -> tuple[float, float]:
    if estimate.low is None or estimate.high is None or estimate.value is None:
        return (0.0, 0.0)
    return (max(0.0, estimate.value - estimate.low), max(0.0, estimate.high - estimate.value))


def _x_label(analysis: Analysis) -> str:
    if all(c.round is not None for c in analysis.curves):
        return "round"
    if all(c.step is not None for c in analysis.curves):
        return "step"
    return "checkpoint"


def _caption(analysis: Analysis) -> str:
    timeouts = "timeouts count as wrong" if analysis.timeouts == "wrong" else "timeouts excluded"
    raters = (
        f"{len(analysis.excluded_raters)} chance-level raters excluded"
        if analysis.excluded_raters
        else "no raters excluded"
    )
    return f"95% intervals (bootstrap over raters and problems); {timeouts}; {raters}"


def _accuracy(analysis: Analysis) -> Figure:
    figure, ax = plt.subplots(figsize=(6, 4))
    _series(ax, analysis, "accuracy", FIGURES["accuracy"])
    ax.axhline(0.5, color="#999999", linewidth=0.8, linestyle=":")
    return figure


def _time(analysis: Analysis) -> Figure:
    figure, ax = plt.subplots(figsize=(6, 4))
    _series(ax, analysis, "time_to_correct_s", FIGURES["time"])
    return figure


def _quartiles(analysis: Analysis) -> Figure:
    figure, ax = plt.subplots(figsize=(6, 4))
    groups = defaultdict(list)
    for quartile in analysis.quartiles:
        groups[(quartile.run, quartile.role)].append(quartile)
    for (run, role), quartiles in sorted(groups.items()):
        _line(ax, [q.quartile for q in quartiles], [q.accuracy for q in quartiles], run, role)
    ax.set_xticks([1, 2, 3, 4], ["Q1 (hardest)", "Q2", "Q3", "Q4 (easiest)"])
    ax.set_xlabel("quartile of the checkpoint's own pass rate on the problem")
    ax.set_ylabel(FIGURES["accuracy"])
    ax.grid(alpha=0.3)
    if groups:
        ax.legend(fontsize=8)
    ax.set_title(_caption(analysis), fontsize=8, loc="left", color="#555555")
    return figure
