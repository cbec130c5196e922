"""The run directory's three data files: what a run writes and what the report reads.

- ``run.json`` (:class:`RunInfo`), written by whoever starts the run (the runner, a script): the
  run's method, variant, protocol and seed; the report's row labels come from it.
- ``metrics.csv``, the long file, written by :class:`~avalanche_clip.results.ResultsLogger`:
  one row per logged value, columns ``name,experience,step,value``. ``step`` is the value's
  ``x_plot`` (training iterations); ``experience`` is the training experience the value belongs
  to: -1 before any training (the original model), ``t`` during and after experience ``t``.
- ``results.json``, written by the same logger: the final table with each value's original and
  forgetting, the values after every experience, and the MST matrix
  (:func:`~avalanche_clip.results.summary.summarize`).

Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .._atomic import atomic_write_text
from .._checks import check_choice
from .layout import METRICS_FILE, RESULTS_FILE, RUN_INFO_FILE

PROTOCOLS: tuple[str, ...] = ("OST", "MST", "MTIL")
VARIANTS: tuple[str, ...] = ("WM", "IO", "TO")
_VARIANT_OF_UPDATE = {"whole": "WM", "image": "IO", "text": "TO"}
_METRIC_COLUMNS = ("name", "experience", "step", "value")


@dataclass(frozen=True)
class RunInfo:
    """What one run is, as the report labels it (``run.json``).

    Attributes:
        method: the method's label, a table row: ``"FT"``, ``"LwF"``, ``"GeoDL"``, ``"IMM"``,
            ``"RKR"``, ``"VR-LwF"``, ``"Joint-FT"``, ...
        variant: the update variant, ``"WM"``, ``"IO"`` or ``"TO"`` (``CLIPClassifier.update``
            names ``"whole"``, ``"image"``, ``"text"`` are accepted and stored as these).
        protocol: the table the run belongs to, ``"OST"``, ``"MST"`` (Joint-FT, the MST upper
            bound, is ``"MST"``) or ``"MTIL"``.
        seed: the run's seed; runs that differ only by seed are averaged in the report.
        config: anything else worth keeping, JSON-serialisable (e.g. the resolved CLI config).
    """

    method: str
    variant: str
    protocol: str
    seed: int | None = None
    config: Mapping[str, Any] | None = None

    def __post_init__(self):
        if not isinstance(self.method, str) or not self.method.strip():
            raise ValueError(f"method must be a non-empty label such as 'VR-LwF', got {self.method!r}.")
        variant = _VARIANT_OF_UPDATE.get(self.variant, self.variant)
        object.__setattr__(self, "variant", check_choice("variant", variant, VARIANTS))
        protocol = self.protocol.upper() if isinstance(self.protocol, str) else self.protocol
        object.__setattr__(self, "protocol", check_choice("protocol", protocol, PROTOCOLS))


def write_run_info(run_dir: str | os.PathLike, info: RunInfo) -> Path:
    """Write ``run.json`` into ``run_dir``; return its path."""
    return atomic_write_text(Path(run_dir) / RUN_INFO_FILE, json.dumps(asdict(info), indent=2) + "\n")


def read_run_info(run_dir: str | os.PathLike) -> RunInfo:
    """Read ``run.json`` from ``run_dir``."""
    path = Path(run_dir) / RUN_INFO_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a run directory needs a {RUN_INFO_FILE} with method, variant and "
            "protocol (write it with avalanche_clip.results.write_run_info, or pass run_info= "
            "to ResultsLogger)."
        )
    data = _read_json_object(path)
    unknown = sorted(set(data) - set(RunInfo.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{path} has unknown fields {unknown}; known: {sorted(RunInfo.__dataclass_fields__)}.")
    return RunInfo(**data)


def read_results(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read ``results.json`` from ``run_dir``."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: is {run_dir} a run directory? ResultsLogger writes {RESULTS_FILE} "
            "after the first measurement."
        )
    return _read_json_object(path)


def _read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a damaged file is a ValueError that names it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is damaged (not JSON: {error}); rerun or restore the run that wrote it.") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} is damaged: it holds a JSON {type(data).__name__}, not an object.")
    return data


@dataclass(frozen=True)
class MetricRow:
    """One logged value, a row of the long file.

    Attributes:
        name: the full metric name.
        experience: -1 before any training, else the training experience it belongs to.
        step: the value's ``x_plot`` (training iterations).
        value: the value.
    """

    name: str
    experience: int
    step: int
    value: float


def write_metric_rows(path: str | os.PathLike, rows: Iterable[MetricRow]) -> Path:
    """Write the long file (CSV, header ``name,experience,step,value``) atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_METRIC_COLUMNS)
    writer.writerows((row.name, row.experience, row.step, repr(row.value)) for row in rows)
    return atomic_write_text(path, buffer.getvalue())


def read_metric_rows(path: str | os.PathLike) -> list[MetricRow]:
    """Read a long file written by :func:`write_metric_rows`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: no long file ({METRICS_FILE}) to resume from.")
    with path.open(newline="") as file:
        reader = csv.DictReader(file)
        if tuple(reader.fieldnames or ()) != _METRIC_COLUMNS:
            raise ValueError(f"{path} has columns {reader.fieldnames}, expected {list(_METRIC_COLUMNS)}.")
        return [MetricRow(r["name"], int(r["experience"]), int(r["step"]), float(r["value"])) for r in reader]


__all__ = [
    "MetricRow",
    "PROTOCOLS",
    "RunInfo",
    "VARIANTS",
    "read_metric_rows",
    "read_results",
    "read_run_info",
    "write_metric_rows",
    "write_run_info",
]
