"""What a run does differently under ``protocol.name: mtil``: its data, streams, metrics and label.

The runner asks these functions and otherwise runs MTIL exactly as OST and MST (plugins,
checkpoints, resume, DDP, zero-shot and retrieval metrics, files and report).
"""

from __future__ import annotations

from typing import Any

from avalanche.evaluation import PluginMetric

from ..benchmarks import MTILData, MTILSource, mtil_benchmark
from ..evaluation import mtil_metrics, updated_task_metrics
from .specs import ProtocolSpec

MTIL = "mtil"
"""``ProtocolSpec.name`` of multi-domain task-incremental learning."""


def check_protocol_data(protocol: ProtocolSpec, data: Any) -> None:
    """MTIL runs on an :class:`MTILSource`, and an MTIL source only under the ``mtil`` protocol."""
    if protocol.name == MTIL and not isinstance(data, MTILSource):
        raise TypeError(f"protocol.name='mtil' needs an MTIL data source (a subclass of "
                        f"avalanche_clip.benchmarks.MTILSource, whose build returns MTILData), got "
                        f"{type(data).__name__}.")
    if protocol.name != MTIL and isinstance(data, MTILSource):
        raise ValueError(f"data {type(data).__name__} is an MTIL data source (a sequence of datasets): use it with "
                         f"protocol.name='mtil', not {protocol.name!r}.")


def mtil_streams(data: Any, protocol: ProtocolSpec):
    """``(train_stream, test_stream)`` of the MTIL benchmark of ``data``'s tasks in ``protocol.task_order``."""
    if not isinstance(data, MTILData):
        raise TypeError(f"An MTIL data source's build() must return MTILData, got {type(data).__name__}.")
    benchmark = mtil_benchmark(data.tasks, order=protocol.task_order, train_transform=data.train_transform,
                               eval_transform=data.eval_transform)
    return benchmark.train_stream, benchmark.test_stream


def task_metrics(data: Any) -> list[PluginMetric]:
    """The metrics of the updated tasks: the MTIL matrix for MTIL data, else UT-Acc (and the MST matrix).

    UT-Acc and BWT are left out of MTIL runs: they compare class ids across experiences, which in
    MTIL belong to different datasets' vocabularies.
    """
    return mtil_metrics() if isinstance(data, MTILData) else updated_task_metrics()


def report_protocol(protocol: ProtocolSpec) -> str:
    """The report table a run belongs to: ``OST``, ``MST`` (Joint-FT included) or ``MTIL``."""
    return {"ost": "OST", MTIL: "MTIL"}.get(protocol.name, "MST")


__all__ = ["MTIL", "check_protocol_data", "mtil_streams", "report_protocol", "task_metrics"]
