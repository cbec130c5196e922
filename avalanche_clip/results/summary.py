"""The results table of a run, computed from its long file (the content of ``results.json``).

Columns use the paper's labels: ``UT-Acc``, ``BWT``, ``BWT-Common``, ``ZS-Acc`` (top-1; other k:
``ZS-Top5-Acc``), ``TR@K`` and ``IR@K``. Each column is keyed by evaluation set (the
updated-task columns by test stream, e.g. ``test_stream``). Values are fractions in [0, 1].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..evaluation.names import BWT, BWT_COMMON, ORIGINAL, SKIPPED_STEPS_NAME, UT_ACC, UT_SESSION_ACC, parse_name
from .mtil_summary import summarize_mtil
from .run_files import MetricRow

_ZEROSHOT = re.compile(r"^ZeroShot_Top(\d+)_Acc$")
_RECALL = re.compile(r"^Retrieval_(TR|IR)@(\d+)$")
_PLAIN = {UT_ACC: "UT-Acc", BWT: "BWT", BWT_COMMON: "BWT-Common"}


def column_of(metric: str) -> str | None:
    """The results-table column of a metric (``ZeroShot_Top1_Acc`` -> ``ZS-Acc``), or None."""
    if metric in _PLAIN:
        return _PLAIN[metric]
    zeroshot = _ZEROSHOT.match(metric)
    if zeroshot:
        k = int(zeroshot[1])
        return "ZS-Acc" if k == 1 else f"ZS-Top{k}-Acc"
    recall = _RECALL.match(metric)
    if recall:
        return f"{recall[1]}@{recall[2]}"
    return None


def _as_list(by_experience: dict[int, Any]) -> list[Any]:
    """``{t: value}`` as a list indexed by ``t`` with None where there is no value."""
    size = max(by_experience, default=-1) + 1
    return [by_experience.get(t) for t in range(size)]


@dataclass
class _Collected:
    """The long file's rows sorted by what they feed: table series, forgetting, the MST matrix."""

    series: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)  # (column, key) -> {t: v}
    forgetting: dict[tuple[str, str], float] = field(default_factory=dict)
    matrix: dict[str, dict[int, dict[int, float]]] = field(default_factory=dict)  # stream -> {t: {i: v}}
    skipped_steps: int = 0


def _collect(rows: Iterable[MetricRow]) -> _Collected:
    """Sort ``rows`` by destination; the latest row wins where a value was logged twice."""
    collected = _Collected()
    for row in rows:
        if row.name == SKIPPED_STEPS_NAME:
            collected.skipped_steps = int(row.value)
            continue
        parsed = parse_name(row.name)
        if parsed is None:
            continue
        if parsed.metric == UT_SESSION_ACC and parsed.experience is not None:
            collected.matrix.setdefault(parsed.where, {}).setdefault(row.experience, {})[parsed.experience] = row.value
            continue
        column = column_of(parsed.metric)
        if column is None or parsed.experience is not None:
            continue
        if parsed.forgetting:
            collected.forgetting[column, parsed.where] = row.value
        else:
            collected.series.setdefault((column, parsed.where), {})[row.experience] = row.value
    return collected


def _tables(collected: _Collected) -> tuple[dict[str, dict[str, dict]], dict[str, dict[str, dict]]]:
    """``table`` and ``per_experience`` of ``results.json`` from the collected series."""
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    per_experience: dict[str, dict[str, dict[str, Any]]] = {}
    for (column, key), values in collected.series.items():
        after = {t: v for t, v in values.items() if t != ORIGINAL}
        table.setdefault(column, {})[key] = {
            "value": after[max(after)] if after else None,
            "original": values.get(ORIGINAL),
            "forgetting": collected.forgetting.get((column, key)),
        }
        per_experience.setdefault(column, {})[key] = {"original": values.get(ORIGINAL), "after": _as_list(after)}
    return table, per_experience


def _ut_matrix(matrix: dict[str, dict[int, dict[int, float]]]) -> dict[str, dict[str, Any]]:
    """``ut_matrix`` of ``results.json``: each stream's rows as lists, None where not evaluated."""
    ut_matrix = {}
    for stream, by_row in matrix.items():
        sessions = max(i for row in by_row.values() for i in row) + 1
        after = {t: [row.get(i) for i in range(sessions)] for t, row in by_row.items() if t != ORIGINAL}
        original = by_row.get(ORIGINAL)
        ut_matrix[stream] = {
            "original": None if original is None else [original.get(i) for i in range(sessions)],
            "after": _as_list(after),
        }
    return ut_matrix


def summarize(rows: Iterable[MetricRow], *, experiences_completed: int) -> dict[str, Any]:
    """The content of ``results.json`` from the long-file rows of a run.

    Returns a dict with:

    - ``experiences_completed``: training experiences finished when it was written.
    - ``table[column][key]``: ``value`` (after the latest experience), ``original`` (the
      original model's, when measured) and ``forgetting`` (latest original - now, when the
      metric has one); None where absent.
    - ``per_experience[column][key]``: ``original`` and ``after`` (the value after experience
      ``t`` at index ``t``), for plots.
    - ``ut_matrix[stream]``: ``original`` (``a[-1][i]``) and ``after`` (``a[t][i]`` at ``[t][i]``),
      the MST matrix; None where not evaluated.
    - ``skipped_steps``: training steps skipped for a non-finite loss or gradient (the latest
      ``NonFinite_Skipped_Steps`` value; 0 when none was logged).
    - ``mtil`` (MTIL runs only): the accuracy matrix and Transfer / Avg / Last
      (:func:`~.mtil_summary.summarize_mtil`).

    The latest row wins where a value was logged twice for the same experience.
    """
    rows = list(rows)  # read twice: here and by summarize_mtil
    collected = _collect(rows)
    table, per_experience = _tables(collected)
    results = {
        "experiences_completed": experiences_completed,
        "table": table,
        "per_experience": per_experience,
        "ut_matrix": _ut_matrix(collected.matrix),
        "skipped_steps": collected.skipped_steps,
    }
    mtil = summarize_mtil(rows)
    return results | {"mtil": mtil} if mtil else results


__all__ = ["column_of", "summarize"]
