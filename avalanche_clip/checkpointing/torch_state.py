"""The state of torch's own objects, as a run's checkpoint needs it.

The optimizer's state keyed by parameter name (not by the order it received them), the GradScaler
(whose state is empty when it is disabled), and the global RNGs of every process.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from avalanche.distributed import DistributedHelper
from torch import nn
from torch.optim import Optimizer

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


class NamedOptimizerState:
    """An optimizer's state by the names of ``model``'s parameters (:func:`optimizer_state`)."""

    def __init__(self, optimizer: Optimizer, model: nn.Module):
        self.optimizer = optimizer
        self.model = model

    def state_dict(self) -> dict[str, Any]:
        return optimizer_state(self.optimizer, self.model)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        load_optimizer_state(self.optimizer, self.model, state)


class GradScalerState:
    """A GradScaler's state; empty, and nothing to load, when the scaler is disabled (not fp16)."""

    def __init__(self, scaler: torch.amp.GradScaler):
        self.scaler = scaler

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.scaler.load_state_dict(state)


# ----------------------------------------------------------------------------- RNG


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


class RNGStates:
    """The global RNG states of every process (of this one alone outside torch.distributed), by rank.

    ``state_dict`` is collective under torch.distributed: every process must call it at the same point.
    """

    def state_dict(self) -> list[dict[str, Any]]:
        if not DistributedHelper.is_distributed:
            return [rng_state()]
        states: list[Any] = [None] * DistributedHelper.world_size
        torch.distributed.all_gather_object(states, rng_state())
        return states

    def load_state_dict(self, states: list[dict[str, Any]]) -> None:
        """Put back this process's state (by rank)."""
        if len(states) != DistributedHelper.world_size:
            raise ValueError(f"The checkpoint holds the RNG states of {len(states)} processes; this run has "
                             f"{DistributedHelper.world_size}. Resume with as many processes.")
        load_rng_state(states[DistributedHelper.rank])


__all__ = [
    "GradScalerState",
    "NamedOptimizerState",
    "RNGStates",
    "load_optimizer_state",
    "load_rng_state",
    "optimizer_state",
    "rng_state",
]
