"""The MTIL part of the report: the Transfer / Avg / Last table, per-dataset matrices and their plot.

Rows are method x variant (runs of a row, e.g. seeds, averaged: mean ± sample std), preceded by
the zero-shot model, whose Transfer / Avg / Last are ZSCL's functions applied to the original row
repeated after every task (Avg = Last = its mean accuracy). Values in %.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from matplotlib.figure import Figure

from ..evaluation.metrics.mtil_matrix import mtil_average, mtil_last, mtil_transfer
from .plots import ORIGINAL_LABEL
from .runs import Run, group_runs, mean_std

MTIL_PLOT = "mtil_matrix.png"
SCORES = ("transfer", "avg", "last")
_HEADERS = {"transfer": "Transfer", "avg": "Avg", "last": "Last"}


def mtil_stream(run: Run) -> dict[str, Any] | None:
    """The run's MTIL summary (``results.json``'s ``mtil``, its first stream), or None."""
    streams = run.results.get("mtil") or {}
    return next(iter(streams.values()), None)


def zero_shot_scores(stream: dict[str, Any]) -> dict[str, float] | None:
    """Transfer / Avg / Last means of the original model, as if it were kept after every task."""
    original = stream["original"]
    if original is None or any(v is None for v in original):
        return None
    matrix = torch.tensor([original] * len(original), dtype=torch.float64)  # [T, T]
    transfer = mtil_transfer(matrix)
    return {"transfer": transfer.mean().item() if len(transfer) else None,
            "avg": mtil_average(matrix).mean().item(), "last": mtil_last(matrix).mean().item()}


def _cell(values) -> str:
    cell = mean_std(values)
    if cell is None:
        return "–"
    mean, std, count = (100 * cell[0], 100 * cell[1], cell[2])
    return f"{mean:.2f}" if count == 1 else f"{mean:.2f} ± {std:.2f}"


def _score_table(runs: Sequence[Run]) -> list[str]:
    lines = ["| Method | Variant | Runs | Transfer | Avg | Last |", "|:--|:--|--:|--:|--:|--:|"]
    zero_shot = [zero_shot_scores(mtil_stream(run)) for run in runs]
    zero_shot = [z for z in zero_shot if z is not None]
    if zero_shot:
        cells = [_cell(z[key] for z in zero_shot) for key in SCORES]
        lines.append(f"| {ORIGINAL_LABEL} (zero-shot) | - | {len(zero_shot)} | " + " | ".join(cells) + " |")
    for (_, method, variant), group in group_runs(runs).items():
        cells = [_cell(mtil_stream(run)[key]["mean"] for run in group) for key in SCORES]
        lines.append(f"| {method} | {variant} | {len(group)} | " + " | ".join(cells) + " |")
    return lines


def mean_matrix(group: Sequence[Run]) -> tuple[list[str], list[str], list[list[float | None]]]:
    """Datasets, row labels and the mean matrix (%) of a group: the original row, then one after each task."""
    streams = [mtil_stream(run) for run in group]
    datasets = streams[0]["datasets"]
    tasks = max(len(s["after"]) for s in streams)
    labels = [ORIGINAL_LABEL] + [f"After {datasets[t] if t < len(datasets) else t}" for t in range(tasks)]

    def entry(stream, t, j):
        row = stream["original"] if t < 0 else (stream["after"][t] if t < len(stream["after"]) else None)
        return None if row is None else row[j]

    rows = []
    for t in range(-1, tasks):
        cells = [mean_std(entry(s, t, j) for s in streams) for j in range(len(datasets))]
        rows.append([None if c is None else 100 * c[0] for c in cells])
    return datasets, labels, rows


def _dataset_tables(runs: Sequence[Run]) -> list[str]:
    lines = []
    for (_, method, variant), group in group_runs(runs).items():
        datasets, labels, rows = mean_matrix(group)
        lines += ["", f"### {method} ({variant}), mean of {len(group)} run(s)", "",
                  "| | " + " | ".join(datasets) + " |", "|:--|" + "--:|" * len(datasets)]
        for label, row in zip(labels, rows):
            lines.append(f"| {label} | " + " | ".join("–" if v is None else f"{v:.2f}" for v in row) + " |")
        for key in SCORES:
            cells = [_cell(mtil_stream(run)[key]["per_dataset"].get(d) for run in group) for d in datasets]
            lines.append(f"| {_HEADERS[key]} | " + " | ".join(cells) + " |")
    return lines


def mtil_markdown(runs: Sequence[Run]) -> str:
    """The MTIL sections of ``results.md`` (empty when no run has MTIL values)."""
    runs = [run for run in runs if mtil_stream(run) is not None]
    if not runs:
        return ""
    lines = ["", "## MTIL: Transfer / Avg / Last", "",
             "ZSCL's definitions over the accuracy matrix A[t, d] (top-1 on dataset d among its own classes "
             "after task t): Transfer = mean of A[t, d] over the tasks learned before d (datasets 2..T); "
             "Avg = mean over the T rows after each task (the original row excluded, as ZSCL); Last = A[T-1, d]. "
             "Each is the mean over datasets.", "", *_score_table(runs), "",
             "## MTIL: accuracy matrix per dataset (rows: after each task; %)", *_dataset_tables(runs), ""]
    return "\n".join(lines)


FIGURE_COLUMNS = 3
"""Heat maps per row of the matrix figure (a reproduction has up to ten methods)."""


def mtil_figure(runs: Sequence[Run]) -> Figure | None:
    """One heat map per method and variant: the mean matrix (%) with its values; None without MTIL runs."""
    groups = group_runs([run for run in runs if mtil_stream(run) is not None])
    if not groups:
        return None
    matrices = [(f"{method} ({variant})", mean_matrix(group)) for (_, method, variant), group in groups.items()]
    size = max(len(datasets) for _, (datasets, _, _) in matrices)
    columns = min(len(matrices), FIGURE_COLUMNS)
    grid_rows = -(-len(matrices) // columns)
    figure = Figure(figsize=(1.0 * size * columns + 3, (0.6 * size + 2.5) * grid_rows), layout="constrained")
    axes = figure.subplots(grid_rows, columns, squeeze=False).flatten()
    for ax in axes[len(matrices):]:
        ax.set_axis_off()
    for ax, (title, (datasets, labels, rows)) in zip(axes, matrices):
        values = [[float("nan") if v is None else v for v in row] for row in rows]
        image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for t, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is not None:
                    ax.text(j, t, f"{value:.0f}", ha="center", va="center", fontsize="small",
                            color="white" if value < 50 else "black")
        ax.set_xticks(range(len(datasets)), datasets, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_title(title)
    figure.colorbar(image, ax=list(axes[:len(matrices)]), label="top-1 accuracy (%)")
    return figure


__all__ = ["MTIL_PLOT", "mean_matrix", "mtil_figure", "mtil_markdown", "mtil_stream", "zero_shot_scores"]
