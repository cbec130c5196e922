"""``state_dict`` / ``load_state_dict`` for the Avalanche objects of a run that have none.

Avalanche 0.6's ``Clock``, its stock metrics and its ``LRSchedulerPlugin`` keep their state in
plain attributes. Each adapter below names the fields it saves, so a field that Avalanche renames
fails loudly (``AttributeError``) instead of being skipped; configuration (a metric's
``reset_at``, a scheduler plugin's ``reset_lr``) is not state: the resumed run builds it again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from avalanche.evaluation.metrics import (
    Accuracy,
    EpochAccuracy,
    EpochLoss,
    ExperienceAccuracy,
    ExperienceBWT,
    ExperienceForgetting,
    ExperienceLoss,
    Mean,
    MinibatchAccuracy,
    MinibatchLoss,
    RunningEpochAccuracy,
    RunningEpochLoss,
    StreamAccuracy,
    StreamLoss,
)
from avalanche.evaluation.metrics.accuracy import AccuracyPluginMetric
from avalanche.evaluation.metrics.forgetting_bwt import GenericExperienceForgetting
from avalanche.evaluation.metrics.loss import LossPluginMetric
from avalanche.training.plugins import LRSchedulerPlugin
from avalanche.training.plugins.clock import Clock


def _mean_state(mean: Mean) -> dict[str, float]:
    return {"summed": mean.summed, "weight": mean.weight}


def _load_mean(mean: Mean, state: dict[str, float]) -> None:
    mean.summed = state["summed"]
    mean.weight = state["weight"]


class ClockState:
    """The counters of Avalanche's ``Clock``."""

    FIELDS = ("train_iterations", "train_exp_counter", "train_exp_epochs", "train_exp_iterations",
              "train_epoch_iterations", "total_iterations")

    def __init__(self, clock: Clock):
        self.clock = clock

    def state_dict(self) -> dict[str, int]:
        return {name: getattr(self.clock, name) for name in self.FIELDS}

    def load_state_dict(self, state: dict[str, int]) -> None:
        for name in self.FIELDS:
            setattr(self.clock, name, int(state[name]))


class RunningMeanMetricState:
    """An accuracy or loss plugin metric (epoch, experience, stream...): the running mean it averages."""

    def __init__(self, metric: AccuracyPluginMetric | LossPluginMetric):
        self.metric = metric

    def _mean(self) -> Mean:
        inner = self.metric._metric
        return inner._mean_accuracy if isinstance(inner, Accuracy) else inner._mean_loss

    def state_dict(self) -> dict[str, float]:
        return _mean_state(self._mean())

    def load_state_dict(self, state: dict[str, float]) -> None:
        _load_mean(self._mean(), state)


class ExperienceForgettingState:
    """Avalanche's experience forgetting (and BWT): first and last accuracy per experience, and the one in progress."""

    def __init__(self, metric: GenericExperienceForgetting):
        self.metric = metric

    def state_dict(self) -> dict[str, Any]:
        forgetting, current = self.metric.forgetting, self.metric._current_metric
        return {"initial": dict(forgetting.initial), "last": dict(forgetting.last),
                "current": {task: _mean_state(accuracy._mean_accuracy)
                            for task, accuracy in current._mean_accuracy.items()},
                "eval_exp_id": self.metric.eval_exp_id, "train_exp_id": self.metric.train_exp_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.metric.forgetting.initial = dict(state["initial"])
        self.metric.forgetting.last = dict(state["last"])
        current = defaultdict(Accuracy)
        for task, mean in state["current"].items():
            _load_mean(current[task]._mean_accuracy, mean)
        self.metric._current_metric._mean_accuracy = current
        self.metric.eval_exp_id = state["eval_exp_id"]
        self.metric.train_exp_id = state["train_exp_id"]


class LRSchedulerState:
    """Avalanche's ``LRSchedulerPlugin``: its scheduler's ``state_dict`` and the plugin's bookkeeping."""

    def __init__(self, plugin: LRSchedulerPlugin):
        self.plugin = plugin

    def state_dict(self) -> dict[str, Any]:
        plugin = self.plugin
        return {"scheduler": plugin.scheduler.state_dict(), "rolling_metric": _mean_state(plugin.rolling_metric),
                "was_training": plugin._was_training, "just_validated": plugin._just_validated,
                "executed_train_iteration": plugin._executed_train_iteration}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        plugin = self.plugin
        plugin.scheduler.load_state_dict(state["scheduler"])
        _load_mean(plugin.rolling_metric, state["rolling_metric"])
        plugin._was_training = state["was_training"]
        plugin._just_validated = state["just_validated"]
        plugin._executed_train_iteration = state["executed_train_iteration"]


_RUNNING_MEANS = (MinibatchAccuracy, EpochAccuracy, RunningEpochAccuracy, ExperienceAccuracy, StreamAccuracy,
                  MinibatchLoss, EpochLoss, RunningEpochLoss, ExperienceLoss, StreamLoss)
METRIC_ADAPTERS = {**{kind: RunningMeanMetricState for kind in _RUNNING_MEANS},
                   ExperienceForgetting: ExperienceForgettingState, ExperienceBWT: ExperienceForgettingState}
"""The stock Avalanche metrics a checkpoint can hold, by exact class (a subclass may hold more), and their adapters."""


def avalanche_metric_state(metric: Any) -> RunningMeanMetricState | ExperienceForgettingState | None:
    """The adapter of a stock Avalanche metric, or None for a metric no adapter knows."""
    adapter = METRIC_ADAPTERS.get(type(metric))
    return None if adapter is None else adapter(metric)


__all__ = [
    "ClockState",
    "ExperienceForgettingState",
    "LRSchedulerState",
    "METRIC_ADAPTERS",
    "RunningMeanMetricState",
    "avalanche_metric_state",
]
