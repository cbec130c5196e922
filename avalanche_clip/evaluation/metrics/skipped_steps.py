"""The training steps skipped for a non-finite loss or gradient, reported with the results.

:class:`~avalanche_clip.training.CLIPStrategy` skips such a step and counts it in
``strategy.nonfinite.skipped``; this metric publishes the count after every training experience
as ``NonFinite_Skipped_Steps/train_phase/train_stream`` (the run's total so far), so it reaches
``metrics.csv``, the loggers and ``results.json`` (``skipped_steps``).
"""

from __future__ import annotations

from typing import Any

from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue

from ..names import SKIPPED_STEPS_NAME


class SkippedStepsMetric(PluginMetric[int]):
    """The run's count of skipped training steps, after every training experience."""

    def __init__(self):
        super().__init__()
        self._count = 0

    def after_training_exp(self, strategy: Any) -> list[MetricValue]:
        guard = getattr(strategy, "nonfinite", None)
        if guard is None:
            raise AttributeError(f"SkippedStepsMetric reads strategy.nonfinite, which {type(strategy).__name__} "
                                 "does not have: use it with CLIPStrategy.")
        self._count = guard.skipped
        return [MetricValue(self, SKIPPED_STEPS_NAME, self._count, strategy.clock.train_iterations)]

    def result(self) -> int:
        """The count at the end of the latest training experience."""
        return self._count

    def reset(self) -> None:
        """Nothing to reset: the count is the run's."""

    def state_dict(self) -> dict[str, Any]:
        """The latest count."""
        return {"count": self._count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self._count = int(state["count"])

    def __str__(self) -> str:
        return "SkippedStepsMetric"


def skipped_steps_metrics() -> list[SkippedStepsMetric]:
    """The skipped-steps count, for an ``EvaluationPlugin`` of a ``CLIPStrategy``."""
    return [SkippedStepsMetric()]


__all__ = ["SkippedStepsMetric", "skipped_steps_metrics"]
