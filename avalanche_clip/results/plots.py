"""The report's PNG plots: UT-Acc and ZS-Acc per MST session, TR@1 against IR@1 per method.

Drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas, never through ``pyplot``:
no global backend is set and no window opens. A configuration's colour is its method and its
marker and line its variant, so a full reproduction (6 methods × 3 variants) stays readable; one
legend sits outside the panels.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .._atomic import atomic_write_bytes
from .runs import Run, group_runs, keys_of, mean_std

ORIGINAL_LABEL = "Original CLIP"
VARIANT_STYLES: dict[str, tuple[str, str]] = {"WM": ("o", "-"), "IO": ("s", "--"), "TO": ("^", ":")}
"""Variant -> (marker, line style); another variant gets a diamond and a dash-dot line."""


def _styles(groups: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], dict]:
    """Plot keywords of each ``(protocol, method, variant)``: colour by method, marker and line by variant."""
    methods = list(dict.fromkeys(method for _, method, _ in groups))
    styles = {}
    for group in groups:
        marker, line = VARIANT_STYLES.get(group[2], ("D", "-."))
        styles[group] = {"color": f"C{methods.index(group[1]) % 10}", "marker": marker, "linestyle": line}
    return styles


def _legend(figure: Figure, ax) -> None:
    """One legend for the figure, right of the panels (its entries are those of ``ax``)."""
    handles, labels = ax.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right upper", fontsize="small")


def _session_curve(runs: Sequence[Run], column: str, key: str) -> tuple[list[int], list[float]]:
    """Mean ``column`` (%) over ``runs``: x = 0 for the original model, t + 1 after session t."""
    series = [s for s in (run.series(column, key) for run in runs) if s is not None]
    points = []
    original = mean_std(s["original"] for s in series)
    if original is not None:
        points.append((0, original[0]))
    sessions = max((len(s["after"]) for s in series), default=0)
    for t in range(sessions):
        after = mean_std(s["after"][t] if t < len(s["after"]) else None for s in series)
        if after is not None:
            points.append((t + 1, after[0]))
    return [x for x, _ in points], [100 * y for _, y in points]


def session_figure(runs: Sequence[Run]) -> Figure | None:
    """UT-Acc and ZS-Acc (one panel per set) after each MST session, one line per method.

    Session 0 is the original model. None when no MST run has these values.
    """
    mst = [run for run in runs if run.info.protocol == "MST"]
    panels = [("UT-Acc", key) for key in keys_of(mst, "UT-Acc")] + [("ZS-Acc", key) for key in keys_of(mst, "ZS-Acc")]
    if not panels:
        return None
    figure = Figure(figsize=(4.5 * len(panels) + 2, 3.8), layout="constrained")
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    groups = group_runs(mst)
    styles = _styles(list(groups))
    for ax, (column, key) in zip(axes, panels):
        for (protocol, method, variant), group in groups.items():
            xs, ys = _session_curve(group, column, key)
            ax.plot(xs, ys, label=f"{method} ({variant})", **styles[protocol, method, variant])
        ax.set_title(column if column == "UT-Acc" else f"{column} ({key})")
        ax.set_xlabel("MST session (0 = original)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(f"{column} (%)")
        ax.grid(alpha=0.3)
    _legend(figure, axes[0])
    return figure


def retrieval_figure(runs: Sequence[Run], protocol: str) -> Figure | None:
    """TR@1 against IR@1 per method and variant (one panel per retrieval set) for ``protocol``.

    The original model is a star. None when no run of ``protocol`` has retrieval values.
    """
    runs = [run for run in runs if run.info.protocol == protocol]
    sets = keys_of(runs, "TR@1")
    if not sets:
        return None
    figure = Figure(figsize=(5 * len(sets) + 2, 4.5), layout="constrained")
    axes = figure.subplots(1, len(sets), squeeze=False)[0]
    groups = group_runs(runs)
    styles = _styles(list(groups))
    for ax, key in zip(axes, sets):
        points = []
        for (protocol, method, variant), group in groups.items():
            style = styles[protocol, method, variant]
            marker = dict(color=style["color"], marker=style["marker"], s=50)
            points.append((f"{method} ({variant})", group, "value", marker))
        points.append((ORIGINAL_LABEL, runs, "original", dict(color="black", marker="*", s=150)))
        for label, group, field, style in points:
            text = mean_std(run.table_value("TR@1", key, field) for run in group)
            image = mean_std(run.table_value("IR@1", key, field) for run in group)
            if text is None or image is None:
                continue
            ax.scatter([100 * text[0]], [100 * image[0]], label=label, **style)
        ax.set_title(f"{protocol}: retrieval on {key}")
        ax.set_xlabel("TR@1 (%)")
        ax.set_ylabel("IR@1 (%)")
        ax.grid(alpha=0.3)
    _legend(figure, axes[0])
    return figure


def save_png(figure: Figure, path: str | os.PathLike) -> Path:
    """Render ``figure`` with Agg and write it to ``path`` atomically."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    return atomic_write_bytes(path, buffer.getvalue())


__all__ = ["ORIGINAL_LABEL", "retrieval_figure", "save_png", "session_figure"]
