"""A run's state: one walk over its stateful components, each with ``state_dict`` / ``load_state_dict``.

:func:`run_components` names them: the strategy's progress (experiences done, position in the
data), the model (its vocabularies and RKR rectifiers included), every method plugin
(:class:`~avalanche_clip.training.MethodPlugin`: teachers, IMM's previous weights and Fishers,
VR-LwF's generator), the Clock's counters, the non-finite guard, every metric (the original
model's values, the MST matrix, Avalanche's running means), the results logger's rows, the LR
schedulers, the RNGs of every process, the optimizer (by parameter name) and the GradScaler.
Avalanche's objects without a ``state_dict`` go through the adapters of :mod:`.avalanche_state`.

A checkpoint is ``{"format", "config", <component>: <its state_dict>...}``, tensors on the CPU
(``torch.load(weights_only=True)`` reads it). It goes back in two steps, because the callbacks
that start an experience both read state (a metric's original values, a teacher) and reset some
(the counters, the running means): :func:`restore_run_state` before the resumed run's ``train``
puts back every component but the optimizer and the scaler (and the strategy's
``load_state_dict`` sets its resume point); :func:`restore_at_resume_point`, at the start of the
resumed epoch, puts back the optimizer and the scaler (only then built for the experience) and,
inside an experience, again the components those callbacks reset (:data:`RESET_BY_THE_LOOP`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import EvaluationPlugin, LRSchedulerPlugin
from avalanche.training.plugins.clock import Clock
from avalanche.training.templates.base_sgd import PeriodicEval

from ..training import CLIPStrategy, MethodPlugin, TaskLearningRates
from .avalanche_state import ClockState, LRSchedulerState, avalanche_metric_state
from .torch_state import GradScalerState, NamedOptimizerState, RNGStates

STATE_FORMAT = 2
"""The version of the checkpoint layout. 1: before the checkpointing package (refused)."""

AT_RESUME_POINT = ("optimizer", "scaler")
"""Put back at the resume point only: the optimizer holds an experience's parameters once it starts."""

RESET_BY_THE_LOOP = ("clock", "nonfinite", "metrics", "loggers", "schedulers", "rng")
"""Put back again at a resume point inside an experience: the callbacks starting it and its epoch reset them."""


@runtime_checkable
class Stateful(Protocol):
    """What a component of a run's state exposes."""

    def state_dict(self) -> Any: ...

    def load_state_dict(self, state: Any) -> None: ...


class ComponentList:
    """Components of one kind (plugins, metrics...), saved in order with their class names.

    Args:
        kind: what they are, for messages ("plugins").
        components: each object and its :class:`Stateful` (itself or an adapter); None: it has no
            state that can be saved, and a resumed run restarts it.
    """

    def __init__(self, kind: str, components: list[tuple[Any, Stateful | None]]):
        self.kind = kind
        self.components = components

    def stateless(self) -> list[str]:
        """The class names of the components whose state cannot be saved."""
        return [type(obj).__name__ for obj, state in self.components if state is None]

    def state_dict(self) -> list[dict[str, Any]]:
        return [{"type": type(obj).__name__, "state": None if state is None else state.state_dict()}
                for obj, state in self.components]

    def load_state_dict(self, saved: list[dict[str, Any]]) -> None:
        here = [type(obj).__name__ for obj, _ in self.components]
        there = [entry["type"] for entry in saved]
        if here != there:
            raise ValueError(f"The checkpoint's {self.kind} are {there}, this run's are {here}: resume with the "
                             "configuration the checkpoint was written with.")
        for (_, state), entry in zip(self.components, saved):
            if state is not None and entry["state"] is not None:
                state.load_state_dict(entry["state"])


_NOT_METHODS = (EvaluationPlugin, PeriodicEval, Clock, LRSchedulerPlugin, TaskLearningRates)
"""The strategy's own plugins (the schedulers have their own key in a checkpoint; the tasks' rates
are in the optimizer's and the schedulers' state)."""


def method_plugins(strategy: CLIPStrategy) -> list[MethodPlugin]:
    """The strategy's plugins that follow the :class:`MethodPlugin` protocol."""
    return [p for p in strategy.plugins if isinstance(p, MethodPlugin)]


def _plugins(strategy: CLIPStrategy) -> ComponentList:
    """Every plugin of the run's methods: a MethodPlugin's state is saved, another's is not."""
    from .run_checkpointing import RunCheckpointing  # it writes the checkpoints and holds no run state

    plugins = [p for p in strategy.plugins if not isinstance(p, (*_NOT_METHODS, RunCheckpointing))]
    return ComponentList("plugins", [(p, p if isinstance(p, MethodPlugin) else None) for p in plugins])


def _metric_state(metric: Any) -> Stateful | None:
    return metric if isinstance(metric, Stateful) else avalanche_metric_state(metric)


def run_components(strategy: CLIPStrategy) -> dict[str, Stateful]:
    """Every stateful component of a run, by its key in a checkpoint, in the order it is restored.

    The loggers live on the main process only (Avalanche's refuse to exist on the others).
    """
    components: dict[str, Stateful] = {
        "strategy": strategy,
        "model": strategy.model,
        "plugins": _plugins(strategy),
        "clock": ClockState(strategy.clock),
        "nonfinite": strategy.nonfinite,
        "metrics": ComponentList("metrics", [(m, _metric_state(m)) for m in strategy.evaluator.metrics]),
        "loggers": ComponentList("loggers", [(lg, lg) for lg in strategy.evaluator.loggers
                                             if isinstance(lg, Stateful)]),
        "schedulers": ComponentList("LR schedulers", [(p, LRSchedulerState(p)) for p in strategy.plugins
                                                      if isinstance(p, LRSchedulerPlugin)]),
        "rng": RNGStates(),
        "optimizer": NamedOptimizerState(strategy.optimizer, strategy.model),
        "scaler": GradScalerState(strategy.scaler),
    }
    if not DistributedHelper.is_main_process:
        del components["loggers"]
    return components


def stateless_components(strategy: CLIPStrategy) -> list[str]:
    """The plugins and metrics whose state a checkpoint cannot hold (a resumed run restarts them)."""
    components = run_components(strategy)
    return components["plugins"].stateless() + components["metrics"].stateless()


def _on_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _on_cpu(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(item) for item in value)
    return value


def capture_run_state(strategy: CLIPStrategy, *, config: dict[str, Any]) -> dict[str, Any]:
    """The whole state of a run now, as a checkpoint dict (tensors on the CPU); collective (the RNGs).

    Args:
        strategy: the run's strategy (its plugins, evaluator and loggers included), between
            experiences or after a training iteration.
        config: the run's configuration, so that a resume with another one is refused.
    """
    states = {name: component.state_dict() for name, component in run_components(strategy).items()}
    return {"format": STATE_FORMAT, "config": config, **_on_cpu(states)}


def check_state_format(state: dict[str, Any], path: str | Path) -> None:
    """Refuse a checkpoint of another layout, before anything reads it."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(
            f"Checkpoint {path} has format {state.get('format')!r}; this version of avalanche-clip reads format "
            f"{STATE_FORMAT} only (checkpoints written before the checkpointing package are format 1). Resume it "
            "with the version that wrote it, or start the run again in another --output_dir."
        )


def experiences_completed(state: dict[str, Any]) -> int:
    """How many training experiences a checkpoint's run had completed."""
    return state["strategy"]["experiences_completed"]


def restore_run_state(strategy: CLIPStrategy, state: dict[str, Any]) -> None:
    """Put back all but the optimizer and the scaler, before the resumed run's first ``train`` call.

    Each method plugin first gives the fresh model its structure (:meth:`MethodPlugin.prepare`).
    """
    for plugin in method_plugins(strategy):
        plugin.prepare(strategy.model)
    for name, component in run_components(strategy).items():
        if name not in AT_RESUME_POINT:
            component.load_state_dict(state[name])


def restore_at_resume_point(strategy: CLIPStrategy, state: dict[str, Any]) -> None:
    """Put back the optimizer and the scaler, and inside an experience what its start reset (see above)."""
    inside = state["strategy"]["position"] is not None
    components = run_components(strategy)
    for name in AT_RESUME_POINT + (RESET_BY_THE_LOOP if inside else ()):
        if name in components:
            components[name].load_state_dict(state[name])


__all__ = [
    "AT_RESUME_POINT",
    "ComponentList",
    "RESET_BY_THE_LOOP",
    "STATE_FORMAT",
    "Stateful",
    "capture_run_state",
    "check_state_format",
    "experiences_completed",
    "method_plugins",
    "restore_at_resume_point",
    "restore_run_state",
    "run_components",
    "stateless_components",
]
