"""Run directories as report input: load them, group the seeds of one configuration, average."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .run_files import RunInfo, read_results, read_run_info


@dataclass(frozen=True)
class Run:
    """One run directory: what it is (``run.json``) and what it measured (``results.json``)."""

    path: Path
    info: RunInfo
    results: dict[str, Any]

    def table_value(self, column: str, key: str, field: str = "value") -> float | None:
        """``results["table"][column][key][field]``, or None when the run has none."""
        return self.results["table"].get(column, {}).get(key, {}).get(field)

    def series(self, column: str, key: str) -> dict[str, Any] | None:
        """``results["per_experience"][column][key]`` (``original``, ``after``), or None."""
        return self.results["per_experience"].get(column, {}).get(key)


def load_runs(run_dirs: Iterable[str | os.PathLike]) -> list[Run]:
    """Load each run directory (``run.json`` and ``results.json``)."""
    runs = [Run(Path(d), read_run_info(d), read_results(d)) for d in run_dirs]
    if not runs:
        raise ValueError("No run directory given: pass at least one directory holding run.json and results.json.")
    return runs


Group = tuple[str, str, str]
"""(protocol, method, variant): the runs of one configuration, one table row."""


def group_runs(runs: Sequence[Run]) -> dict[Group, list[Run]]:
    """Runs by (protocol, method, variant), in the order the configurations first appear."""
    groups: dict[Group, list[Run]] = {}
    for run in runs:
        groups.setdefault((run.info.protocol, run.info.method, run.info.variant), []).append(run)
    return groups


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int] | None:
    """Mean, sample standard deviation (0 for one value) and count of the values that exist."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    std = statistics.stdev(present) if len(present) > 1 else 0.0
    return statistics.fmean(present), std, len(present)


def keys_of(runs: Sequence[Run], column: str) -> list[str]:
    """The keys (evaluation sets, streams) of ``column`` across ``runs``, in first-seen order."""
    keys: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.results["table"].get(column, {})))
    return list(keys)


__all__ = ["Group", "Run", "group_runs", "keys_of", "load_runs", "mean_std"]
