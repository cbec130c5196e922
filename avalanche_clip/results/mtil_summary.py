"""The MTIL part of ``results.json``: the accuracy matrix and Transfer / Avg / Last, from the long file.

Read from the values of :class:`~avalanche_clip.evaluation.metrics.MTILMatrixMetric`
(``MTIL_*`` names, see :mod:`avalanche_clip.evaluation.names`). Datasets are listed in the order
of the test stream, which ``mtil_benchmark`` makes the training order. Values are fractions.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..evaluation.names import MTIL_ACC, MTIL_AVG, MTIL_LAST, MTIL_TRANSFER, ORIGINAL, parse_dataset_name
from .run_files import MetricRow

_KEYS = {MTIL_TRANSFER: "transfer", MTIL_AVG: "avg", MTIL_LAST: "last"}


def _stream_summary(matrix: dict[int, dict[str, float]], datasets: list[str],
                    scores: dict[str, dict[str | None, float]]) -> dict[str, Any]:
    after = [[matrix[t].get(d) for d in datasets] if t in matrix else None
             for t in range(max((t for t in matrix if t != ORIGINAL), default=-1) + 1)]
    summary: dict[str, Any] = {
        "datasets": datasets,
        "original": [matrix[ORIGINAL].get(d) for d in datasets] if ORIGINAL in matrix else None,
        "after": after,
    }
    for metric, key in _KEYS.items():
        values = scores.get(metric, {})
        summary[key] = {"mean": values.get(None),
                        "per_dataset": {d: values[d] for d in datasets if d in values}}
    return summary


def summarize_mtil(rows: Iterable[MetricRow]) -> dict[str, Any]:
    """``results.json``'s ``mtil`` entry, by stream (e.g. ``test_stream``); empty without MTIL values.

    Per stream: ``datasets`` (test-stream order), ``original`` (the original model's row,
    ``A[-1][d]``), ``after`` (``A[t][d]`` at ``[t][d]``; None where not evaluated), and
    ``transfer``, ``avg``, ``last``, each ``{"mean": ..., "per_dataset": {dataset: ...}}`` (None /
    empty until every task is learned). The latest row wins where a value was logged twice.
    """
    matrices: dict[str, dict[int, dict[str, float]]] = {}
    datasets: dict[str, dict[str, None]] = {}
    scores: dict[str, dict[str, dict[str | None, float]]] = {}
    for row in rows:
        parsed = parse_dataset_name(row.name)
        if parsed is None:
            continue
        metric, stream, dataset = parsed
        if metric == MTIL_ACC:
            if dataset is not None:
                matrices.setdefault(stream, {}).setdefault(row.experience, {})[dataset] = row.value
                datasets.setdefault(stream, {})[dataset] = None
        else:
            scores.setdefault(stream, {}).setdefault(metric, {})[dataset] = row.value
    return {f"{stream}_stream": _stream_summary(matrix, list(datasets[stream]), scores.get(stream, {}))
            for stream, matrix in matrices.items()}


__all__ = ["summarize_mtil"]
