"""What the update may destroy, measured on one evaluation set against the original model.

A capability (zero-shot accuracy, retrieval recall) is measured once before any training, on
the original model, and again after every training experience; its forgetting is the original
value minus the current one (PROTOCOL.md section 8). Subclasses say how to measure; this class
says when, and what is emitted.

When: ``before_training`` for the original (it fires on every ``strategy.train`` call, so only
the first measures) and ``after_training_exp`` for the updated model. ``after_training_exp``
rather than an eval callback, because then the set is measured exactly once per training
experience whatever the user evaluates (a periodic eval, the train stream, nothing), and it
still sees the model the method leaves: method plugins (an IMM merge) run their own
``after_training_exp`` before the ``EvaluationPlugin``'s.
"""

from __future__ import annotations

import logging
import time
from abc import abstractmethod
from typing import Any

import torch
from avalanche.evaluation import PluginMetric
from avalanche.evaluation.metric_results import MetricValue

from ..encoding import check_encoder, evaluation_mode, strategy_autocast
from ..names import check_set_name, forgetting_metric, set_value_name

logger = logging.getLogger(__name__)


class CapabilityMetric(PluginMetric[dict[str, float]]):
    """The values of one evaluation set: the original model's once, then after every experience.

    Emits ``{metric}/eval_phase/{set_name}`` for every metric :meth:`measure` returns, before the
    first training experience (the original model) and after each one, plus
    ``{metric}_Forgetting/eval_phase/{set_name}`` (original minus now) after each one, all at
    ``x_plot = strategy.clock.train_iterations``.

    Args:
        set_name: the name of the evaluation set in the metric names (no ``/``).
    """

    def __init__(self, set_name: str):
        super().__init__()
        self.set_name = check_set_name(set_name)
        self.original: dict[str, float] | None = None
        self.current: dict[str, float] | None = None

    @abstractmethod
    def measure(self, model: Any, device: torch.device) -> dict[str, float]:
        """The current value of every metric of this set, ``{metric: value}``.

        Called in eval mode, under ``no_grad`` and the strategy's autocast.
        """

    def forgetting(self) -> dict[str, float]:
        """Original minus current value of every metric (empty before any experience)."""
        if self.original is None or self.current is None:
            return {}
        return {metric: self.original[metric] - value for metric, value in self.current.items()}

    # ------------------------------------------------------------------------ callbacks

    def before_training(self, strategy: Any) -> list[MetricValue] | None:
        if self.original is not None:
            return None
        if strategy.clock.train_exp_counter > 0:
            logger.warning(
                "Measuring the original model on %r after %d training experiences: this "
                "metric's forgetting will be relative to the model now. To resume a run, "
                "load the metric's state_dict() instead.", self.set_name, strategy.clock.train_exp_counter,
            )
        self.original = self._measure(strategy)
        return self._metric_values(strategy, self.original)

    def after_training_exp(self, strategy: Any) -> list[MetricValue]:
        self.current = self._measure(strategy)
        values = self._metric_values(strategy, self.current)
        forgetting = {forgetting_metric(metric): value for metric, value in self.forgetting().items()}
        return values + self._metric_values(strategy, forgetting)

    def _measure(self, strategy: Any) -> dict[str, float]:
        model = check_encoder(strategy.model)
        start = time.perf_counter()
        with evaluation_mode(model), strategy_autocast(strategy):
            values = self.measure(model, strategy.device)
        logger.info("%s measured in %.1f s: %s", self, time.perf_counter() - start,
                    ", ".join(f"{metric}={value:.4f}" for metric, value in values.items()))
        return values

    def _metric_values(self, strategy: Any, values: dict[str, float]) -> list[MetricValue]:
        x_plot = strategy.clock.train_iterations
        return [MetricValue(self, set_value_name(metric, self.set_name), value, x_plot)
                for metric, value in values.items()]

    # ---------------------------------------------------------------- Metric protocol

    def result(self) -> dict[str, float] | None:
        """The latest values: after the last experience, else the original model's."""
        return self.current if self.current is not None else self.original

    def reset(self) -> None:
        """Forget the latest values; the original model's are kept (see :meth:`load_state_dict`)."""
        self.current = None

    def state_dict(self) -> dict[str, Any]:
        """The original and the latest values, to resume a run."""
        return {"original": self.original, "current": self.current}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; the original is then not measured again."""
        self.original = state["original"]
        self.current = state["current"]

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.set_name})"


__all__ = ["CapabilityMetric"]
