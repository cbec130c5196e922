"""The paper's tables from run directories: a markdown and a CSV table, and the plots.

One table per protocol; rows are method x variant (the runs of a row, e.g. its seeds, are
averaged: mean ± sample std), preceded by the original CLIP (the values every run measured
before training); columns are UT-Acc, ZS-Acc per zero-shot set, TR@1 and IR@1 per retrieval
set, and BWT (the authors' definition) for MST. Values are in %. MTIL runs add their Transfer /
Avg / Last table, per-dataset matrices and matrix plot (:mod:`.mtil_report`).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .._atomic import atomic_write_text
from .layout import REPORT_DIR
from .mtil_report import MTIL_PLOT, mtil_figure, mtil_markdown
from .plots import ORIGINAL_LABEL, retrieval_figure, save_png, session_figure
from .run_files import PROTOCOLS
from .runs import Run, group_runs, keys_of, load_runs, mean_std

logger = logging.getLogger(__name__)

MARKDOWN_FILE = "results.md"
CSV_FILE = "results.csv"
SESSIONS_PLOT = "mst_sessions.png"
RETRIEVAL_PLOT = "tr_vs_ir_{protocol}.png"

Cell = tuple[float, float, int]
"""(mean, std, runs) of a table cell, in %."""


@dataclass(frozen=True)
class Column:
    """A table column: its header and where its values are in ``results.json``'s table."""

    label: str
    column: str
    key: str


@dataclass(frozen=True)
class TableRow:
    """A table row: a configuration and its cells by column label (None: not measured)."""

    protocol: str
    method: str
    variant: str
    runs: int
    cells: dict[str, Cell | None]


def _single_key_columns(runs: Sequence[Run], column: str) -> list[Column]:
    keys = keys_of(runs, column)
    return [Column(column if len(keys) == 1 else f"{column} ({key})", column, key) for key in keys]


def table_columns(runs: Sequence[Run], protocol: str) -> list[Column]:
    """The columns of ``protocol``'s table, from the values its runs have."""
    columns = _single_key_columns(runs, "UT-Acc")
    columns += [Column(f"ZS-Acc ({key})", "ZS-Acc", key) for key in keys_of(runs, "ZS-Acc")]
    for key in dict.fromkeys(keys_of(runs, "TR@1") + keys_of(runs, "IR@1")):
        columns += [Column(f"TR@1 ({key})", "TR@1", key), Column(f"IR@1 ({key})", "IR@1", key)]
    if protocol == "MST":
        columns += _single_key_columns(runs, "BWT")
    return columns


def _cells(runs: Sequence[Run], columns: Sequence[Column], field: str) -> dict[str, Cell | None]:
    cells = {}
    for column in columns:
        cell = mean_std(run.table_value(column.column, column.key, field) for run in runs)
        cells[column.label] = None if cell is None else (100 * cell[0], 100 * cell[1], cell[2])
    return cells


def protocol_table(runs: Sequence[Run], protocol: str) -> tuple[list[Column], list[TableRow]]:
    """Columns and rows of ``protocol``'s table: the original CLIP, then each configuration."""
    runs = [run for run in runs if run.info.protocol == protocol]
    columns = table_columns(runs, protocol)
    rows = []
    original = _cells(runs, columns, "original")
    if any(cell is not None for cell in original.values()):
        rows.append(TableRow(protocol, ORIGINAL_LABEL, "-", len(runs), original))
    for (_, method, variant), group in group_runs(runs).items():
        rows.append(TableRow(protocol, method, variant, len(group), _cells(group, columns, "value")))
    return columns, rows


def _format(cell: Cell | None) -> str:
    if cell is None:
        return "–"
    mean, std, count = cell
    return f"{mean:.2f}" if count == 1 else f"{mean:.2f} ± {std:.2f}"


def markdown_report(tables: dict[str, tuple[list[Column], list[TableRow]]]) -> str:
    """The tables as markdown, one section per protocol."""
    lines = ["# Results", "",
             "Values in %; a row with several runs (seeds) shows mean ± sample std. "
             f"{ORIGINAL_LABEL}: the model before any update. BWT: the authors' definition.", ""]
    for protocol, (columns, rows) in tables.items():
        header = ["Method", "Variant", "Runs"] + [c.label for c in columns]
        lines += [f"## {protocol}", "", "| " + " | ".join(header) + " |",
                  "|" + "|".join([":--", ":--", "--:"] + ["--:"] * len(columns)) + "|"]
        for row in rows:
            cells = [row.method, row.variant, str(row.runs)] + [_format(row.cells[c.label]) for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def csv_report(tables: dict[str, tuple[list[Column], list[TableRow]]]) -> str:
    """All tables as one CSV: protocol, method, variant, runs, then mean and std per column (%)."""
    labels = list(dict.fromkeys(c.label for columns, _ in tables.values() for c in columns))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    value_columns = [name for label in labels for name in (label, f"{label} std")]
    writer.writerow(["protocol", "method", "variant", "runs"] + value_columns)
    for _, rows in tables.values():
        for row in rows:
            values = []
            for label in labels:
                cell = row.cells.get(label)
                values += ["", ""] if cell is None else [f"{cell[0]:.4f}", f"{cell[1]:.4f}"]
            writer.writerow([row.protocol, row.method, row.variant, row.runs] + values)
    return buffer.getvalue()


RUN_FIELDS = {"original": "Original", "value": "After {method}", "forgetting": "Forgetting"}
"""The columns of :func:`run_table`: a field of ``results.json``'s table, and its header."""


def aligned_markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table padded to aligned columns (readable as text too); the first column left-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [f"{cells[0]:<{widths[0]}}"] + [f"{cell:>{width}}" for cell, width in zip(cells[1:], widths[1:])]
        return "| " + " | ".join(padded) + " |"

    rule = "|:" + "-" * (widths[0] + 1) + "|" + "|".join("-" * (width + 1) + ":" for width in widths[1:]) + "|"
    return "\n".join([line(header), rule, *map(line, rows)])


def run_table(run_dir: str | os.PathLike) -> str:
    """One run's values as the report's columns turned into rows: original, now, and forgetting, in %.

    Forgetting is the original value minus the value now, as the run measured it (``–`` where
    the metric has none: UT-Acc and BWT measure the update, not what it destroys).
    """
    runs = load_runs([run_dir])
    info = runs[0].info
    columns = table_columns(runs, info.protocol)
    cells = {field: _cells(runs, columns, field) for field in RUN_FIELDS}
    header = [info.protocol] + [label.format(method=info.method) for label in RUN_FIELDS.values()]
    rows = [[column.label] + [_format(cells[field][column.label]) for field in RUN_FIELDS] for column in columns]
    return (f"Results in % ({info.method}, {info.variant}, seed {info.seed}; the report: "
            f"{Path(run_dir) / REPORT_DIR / MARKDOWN_FILE}):\n\n" + aligned_markdown(header, rows))


@dataclass(frozen=True)
class ReportFiles:
    """The files a report wrote."""

    markdown: Path
    csv: Path
    plots: tuple[Path, ...]


def write_report(run_dirs: Iterable[str | os.PathLike], output_dir: str | os.PathLike = "report") -> ReportFiles:
    """Write the tables (``results.md``, ``results.csv``) and plots of ``run_dirs`` to ``output_dir``.

    Args:
        run_dirs: run directories, each with ``run.json`` and ``results.json`` (see
            :mod:`avalanche_clip.results.run_files`). Rows keep the order in which their
            configurations first appear.
        output_dir: where to write (created if needed).
    """
    runs = load_runs(run_dirs)
    output = Path(output_dir)
    protocols = [p for p in PROTOCOLS if any(run.info.protocol == p for run in runs)]
    tables = {protocol: protocol_table(runs, protocol) for protocol in protocols}
    markdown = atomic_write_text(output / MARKDOWN_FILE, markdown_report(tables) + mtil_markdown(runs))
    table = atomic_write_text(output / CSV_FILE, csv_report(tables))
    figures = {SESSIONS_PLOT: session_figure(runs), MTIL_PLOT: mtil_figure(runs)}
    figures |= {RETRIEVAL_PLOT.format(protocol=p.lower()): retrieval_figure(runs, p) for p in protocols}
    plots = tuple(save_png(figure, output / name) for name, figure in figures.items() if figure is not None)
    logger.info("Report of %d runs written to %s (%d plots).", len(runs), output, len(plots))
    return ReportFiles(markdown, table, plots)


__all__ = [
    "CSV_FILE",
    "Column",
    "MARKDOWN_FILE",
    "RUN_FIELDS",
    "ReportFiles",
    "TableRow",
    "aligned_markdown",
    "csv_report",
    "markdown_report",
    "protocol_table",
    "run_table",
    "table_columns",
    "write_report",
]
