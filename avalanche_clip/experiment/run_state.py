"""What a run's checkpoint holds, and how it is put back into a fresh strategy.

A run's state is a dict of tensors and plain values (``torch.load(weights_only=True)`` reads it):
the model's ``state_dict`` (its vocabularies and RKR rectifiers included), the optimizer's state
keyed by parameter name, the GradScaler, the non-finite step counts, Avalanche's ``Clock``
counters, every plugin's ``state_dict`` (teachers, IMM's previous weights and Fishers, VR-LwF's
generator; the LR scheduler's), every metric's state (the original model's values, the MST
matrix; Avalanche's own metrics through :func:`object_state`), the results logger's rows, the
Python, NumPy and torch RNG states (of every process under torch.distributed), and the position
in the data.

Restoring happens in two places, because the callbacks that start an experience and an epoch
reset part of the state: :func:`restore_run_state` before ``train`` (what those callbacks read:
the model, the plugins' teachers, the metrics' original values), and
:func:`restore_training_progress` at the resume point, after them (the optimizer, which the first
``make_optimizer`` of a strategy resets, and for a checkpoint taken inside an experience the
counters, the metrics, the RNG).
"""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from dataclasses import asdict
from typing import Any, Iterable

import numpy as np
import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import EvaluationPlugin, LRSchedulerPlugin
from avalanche.training.plugins.clock import Clock
from avalanche.training.templates.base_sgd import PeriodicEval
from torch import nn
from torch.optim import Optimizer

from ..training.strategy import CLIPStrategy, TrainPosition

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
"""The version of the checkpoint layout; a checkpoint of another version is refused."""

_OBJECT = "__object_state__"
_PLAIN = (bool, int, float, str, type(None))
_skip = object()  # what _encode returns for a value that is not state
_FRAMEWORK_PLUGINS = (EvaluationPlugin, PeriodicEval, Clock)


# ------------------------------------------------------------ objects without state_dict

def _is_metric_object(value: Any) -> bool:
    return type(value).__module__.startswith("avalanche.evaluation")


def _encode(value: Any) -> Any:
    """``value`` as plain data, or ``_skip`` when it is not state (a model, a callable...)."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        items = [_encode(item) for item in value]
        if any(item is _skip for item in items):
            return _skip
        return tuple(items) if isinstance(value, tuple) else items
    if isinstance(value, dict):
        items = {key: _encode(item) for key, item in value.items()}
        plain_keys = all(isinstance(key, _PLAIN) for key in items)
        return items if plain_keys and all(item is not _skip for item in items.values()) else _skip
    if _is_metric_object(value):
        return {_OBJECT: object_state(value)}
    return _skip


def object_state(obj: Any) -> dict[str, Any]:
    """The plain attributes of an Avalanche metric (or plugin) that has no ``state_dict``.

    Numbers, strings, tensors, and lists and dicts of them are kept; nested Avalanche metric
    objects (a ``Mean`` inside a loss metric) recursively; anything else (a model, a callable)
    is not state and is left out.
    """
    state = {}
    for name, value in vars(obj).items():
        encoded = _encode(value)
        if encoded is not _skip:
            state[name] = encoded
    return state


def _decode(current: Any, saved: Any, where: str) -> Any:
    if isinstance(saved, dict) and set(saved) == {_OBJECT}:
        if current is None:
            raise ValueError(f"Cannot restore {where}: the object it was saved from does not exist here.")
        load_object_state(current, saved[_OBJECT], where=where)
        return current
    if isinstance(saved, dict):
        restored = defaultdict(current.default_factory) if isinstance(current, defaultdict) else {}
        for key, item in saved.items():
            existing = current.get(key) if isinstance(current, dict) and key in current else None
            if existing is None and isinstance(current, defaultdict):
                existing = current.default_factory()
            restored[key] = _decode(existing, item, f"{where}[{key!r}]")
        return restored
    return saved


def load_object_state(obj: Any, state: dict[str, Any], *, where: str = "") -> None:
    """Put back :func:`object_state` into ``obj`` (an object of the same class), in place."""
    for name, saved in state.items():
        setattr(obj, name, _decode(getattr(obj, name, None), saved, f"{where or type(obj).__name__}.{name}"))


def _state_of(component: Any) -> Any:
    if hasattr(component, "state_dict"):
        return component.state_dict()
    return object_state(component)


def _load_state_of(component: Any, state: Any) -> None:
    if hasattr(component, "load_state_dict"):
        component.load_state_dict(state)
    else:
        load_object_state(component, state)


# ---------------------------------------------------------------- the optimizer by name

def optimizer_state(optimizer: Optimizer, model: nn.Module) -> dict[str, Any]:
    """``optimizer.state_dict()`` with parameters named as in ``model`` instead of numbered.

    Numbers depend on the order the optimizer received its parameters in; names let the state
    go back into an optimizer built and updated differently (``CLIPStrategy.make_optimizer``).
    """
    names = {id(p): name for name, p in model.named_parameters()}
    saved = optimizer.state_dict()
    number_to_name: dict[int, str] = {}
    groups = []
    for group, saved_group in zip(optimizer.param_groups, saved["param_groups"]):
        group_names = [names[id(p)] for p in group["params"]]
        number_to_name.update(zip(saved_group["params"], group_names))
        groups.append({**saved_group, "params": group_names})
    return {"state": {number_to_name[n]: s for n, s in saved["state"].items()}, "param_groups": groups}


def load_optimizer_state(optimizer: Optimizer, model: nn.Module, state: dict[str, Any]) -> None:
    """Put back :func:`optimizer_state`; the optimizer must hold the same parameters, by name."""
    names = {id(p): name for name, p in model.named_parameters()}
    current = optimizer.state_dict()
    if len(current["param_groups"]) != len(state["param_groups"]):
        raise ValueError(f"The optimizer has {len(current['param_groups'])} parameter groups, the checkpoint "
                         f"{len(state['param_groups'])}: build the optimizer as the checkpointed run did.")
    name_to_number: dict[str, int] = {}
    groups = []
    for group, current_group, saved_group in zip(optimizer.param_groups, current["param_groups"],
                                                 state["param_groups"]):
        group_names = [names[id(p)] for p in group["params"]]
        if set(group_names) != set(saved_group["params"]):
            different = sorted(set(group_names) ^ set(saved_group["params"]))
            raise ValueError(f"The optimizer's parameters differ from the checkpoint's: {different[:5]} "
                             "are in only one of them. Resume with the same model, variant and methods.")
        name_to_number.update(zip(group_names, current_group["params"]))
        groups.append({**saved_group, "params": current_group["params"]})
    optimizer.load_state_dict({"state": {name_to_number[n]: s for n, s in state["state"].items()},
                               "param_groups": groups})


# ----------------------------------------------------------------------------- RNG

def rng_states() -> list[dict[str, Any]]:
    """The RNG states of every process (of this one alone outside torch.distributed), by rank.

    Collective under torch.distributed: every process must call it at the same point.
    """
    if not DistributedHelper.is_distributed:
        return [rng_state()]
    states: list[Any] = [None] * DistributedHelper.world_size
    torch.distributed.all_gather_object(states, rng_state())
    return states


def load_rng_states(states: list[dict[str, Any]]) -> None:
    """Put back this process's state of :func:`rng_states` (by rank)."""
    if len(states) != DistributedHelper.world_size:
        raise ValueError(f"The checkpoint holds the RNG states of {len(states)} processes; this run has "
                         f"{DistributedHelper.world_size}. Resume with as many processes.")
    load_rng_state(states[DistributedHelper.rank])


def rng_state() -> dict[str, Any]:
    """The global RNG states: Python's, NumPy's, torch's (and every CUDA device's once initialised)."""
    _, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    state = {
        "python": random.getstate(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "position": int(position),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def load_rng_state(state: dict[str, Any]) -> None:
    """Put back :func:`rng_state`."""
    random.setstate(state["python"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["position"],
                         numpy["has_gauss"], numpy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ------------------------------------------------------------------ the strategy's parts

def method_plugins(strategy: CLIPStrategy) -> list[Any]:
    """The plugins whose state a checkpoint holds: all but the evaluator, periodic eval and clock."""
    return [p for p in strategy.plugins if not isinstance(p, _FRAMEWORK_PLUGINS)]


def stateless_plugins(strategy: CLIPStrategy) -> list[str]:
    """Names of the plugins a checkpoint cannot restore (no ``state_dict``)."""
    return [type(p).__name__ for p in method_plugins(strategy)
            if not hasattr(p, "state_dict") and not isinstance(p, LRSchedulerPlugin)]


def _plugin_state(plugin: Any) -> Any:
    if isinstance(plugin, LRSchedulerPlugin):
        return {"plugin": object_state(plugin), "scheduler": plugin.scheduler.state_dict()}
    return plugin.state_dict() if hasattr(plugin, "state_dict") else None


def _load_plugin_state(plugin: Any, state: Any) -> None:
    if isinstance(plugin, LRSchedulerPlugin):
        load_object_state(plugin, state["plugin"])
        plugin.scheduler.load_state_dict(state["scheduler"])
    elif state is not None:
        plugin.load_state_dict(state)


def _typed(components: Iterable[Any], state_of) -> list[dict[str, Any]]:
    return [{"type": type(c).__name__, "state": state_of(c)} for c in components]


def _check_types(kind: str, components: list[Any], saved: list[dict[str, Any]]) -> None:
    here = [type(c).__name__ for c in components]
    there = [entry["type"] for entry in saved]
    if here != there:
        raise ValueError(f"The checkpoint's {kind} are {there}, this run's are {here}: resume with the "
                         "configuration the checkpoint was written with.")


def _clock_state(clock: Clock) -> dict[str, int]:
    return {name: value for name, value in vars(clock).items()
            if isinstance(value, int) and not isinstance(value, bool)}


def _loggers(strategy: CLIPStrategy) -> list[Any]:
    return [lg for lg in strategy.evaluator.loggers if hasattr(lg, "state_dict")]


def capture_run_state(strategy: CLIPStrategy, *, position: TrainPosition | None,
                      config: dict[str, Any]) -> dict[str, Any]:
    """The whole state of a run now, as a checkpoint dict (tensors on the CPU).

    Args:
        strategy: the run's strategy (its plugins, evaluator and loggers included).
        position: where training is inside an experience; None between experiences (after the
            evaluation that follows one).
        config: the run's configuration, so that a resume with another one is refused.
    """
    model = {name: value.detach().cpu() if isinstance(value, torch.Tensor) else value
             for name, value in strategy.model.state_dict().items()}
    return {
        "format": STATE_FORMAT,
        "config": config,
        "experiences_completed": strategy.clock.train_exp_counter,
        "position": None if position is None else asdict(position),
        "model": model,
        "optimizer": optimizer_state(strategy.optimizer, strategy.model),
        "scaler": strategy.scaler.state_dict(),
        "nonfinite": strategy.nonfinite.state_dict(),
        "clock": _clock_state(strategy.clock),
        "plugins": _typed(method_plugins(strategy), _plugin_state),
        "metrics": _typed(strategy.evaluator.metrics, _state_of),
        "loggers": _typed(_loggers(strategy), _state_of),
        "rng": rng_states(),
    }


def _restore_progress(strategy: CLIPStrategy, state: dict[str, Any]) -> None:
    """Counters, metrics, loggers, the LR scheduler and the RNG: what the loop's callbacks change."""
    for name, value in state["clock"].items():
        setattr(strategy.clock, name, value)
    strategy.nonfinite.load_state_dict(state["nonfinite"])
    _check_types("metrics", strategy.evaluator.metrics, state["metrics"])
    for metric, entry in zip(strategy.evaluator.metrics, state["metrics"]):
        _load_state_of(metric, entry["state"])
    if DistributedHelper.is_main_process:  # the loggers live on the main process only
        _check_types("loggers", _loggers(strategy), state["loggers"])
        for run_logger, entry in zip(_loggers(strategy), state["loggers"]):
            run_logger.load_state_dict(entry["state"])
    for plugin, entry in zip(method_plugins(strategy), state["plugins"]):
        if isinstance(plugin, LRSchedulerPlugin):
            _load_plugin_state(plugin, entry["state"])
    load_rng_states(state["rng"])


def restore_run_state(strategy: CLIPStrategy, state: dict[str, Any]) -> None:
    """Put back everything but the optimizer, before the resumed run's first ``train`` call.

    Plugins that change the model's structure (RKR: ``prepare(model)``) must have done so.
    """
    if state.get("format") != STATE_FORMAT:
        raise ValueError(f"The checkpoint has format {state.get('format')!r}; this version reads format "
                         f"{STATE_FORMAT}.")
    strategy.model.load_state_dict(state["model"])
    plugins = method_plugins(strategy)
    _check_types("plugins", plugins, state["plugins"])
    for plugin, entry in zip(plugins, state["plugins"]):
        _load_plugin_state(plugin, entry["state"])
    _restore_progress(strategy, state)


def restore_training_progress(strategy: CLIPStrategy, state: dict[str, Any]) -> None:
    """Put back what the callbacks starting the resumed experience (and epoch) reset.

    Called at the resume point (``CLIPStrategy.resume_at``): the optimizer and the GradScaler;
    for a checkpoint taken inside an experience also the counters, metrics, loggers, LR
    scheduler and RNG as they were at that step.
    """
    load_optimizer_state(strategy.optimizer, strategy.model, state["optimizer"])
    if state["scaler"]:  # empty when the run's GradScaler was disabled (not fp16)
        strategy.scaler.load_state_dict(state["scaler"])
    if state["position"] is not None:
        _restore_progress(strategy, state)


def resume_position(state: dict[str, Any]) -> TrainPosition:
    """Where training continues: inside the checkpoint's experience, or at the next one's start."""
    if state["position"] is not None:
        return TrainPosition(**state["position"])
    return TrainPosition(state["experiences_completed"], 0, 0)


__all__ = [
    "STATE_FORMAT",
    "capture_run_state",
    "load_object_state",
    "load_optimizer_state",
    "load_rng_state",
    "load_rng_states",
    "method_plugins",
    "object_state",
    "optimizer_state",
    "restore_run_state",
    "restore_training_progress",
    "resume_position",
    "rng_state",
    "rng_states",
    "stateless_plugins",
]
