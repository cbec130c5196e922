"""Joining the process group that ``torchrun`` sets up: backend and device from its environment.

``torchrun --nproc_per_node=N script.py`` starts N copies of the script with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set (on several nodes the
rendezvous fills them in). :func:`init_distributed` joins that group: NCCL for CUDA devices,
gloo for the CPU, and each process on ``cuda:LOCAL_RANK``. Without those variables it does
nothing, so the same script runs in one process unchanged.

Avalanche must be imported before the group is initialised: ``import avalanche`` builds a logger
at class level (``AETraining``), and Avalanche loggers refuse to be built on a non-main rank.
This module imports Avalanche's ``DistributedHelper``, so importing it first is enough.
"""

from __future__ import annotations

import atexit
import logging
import os
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import torch
import torch.distributed as dist
from avalanche.distributed import DistributedHelper

logger = logging.getLogger(__name__)

T = TypeVar("T")

TORCHRUN_VARIABLES: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The environment variables torchrun sets in every process it starts."""


def launched_by_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (every variable of :data:`TORCHRUN_VARIABLES` is set)."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def local_rank() -> int:
    """This process's index on its node (``LOCAL_RANK``); 0 when not launched by torchrun."""
    return int(os.environ.get("LOCAL_RANK", 0))


def process_device(device: str | torch.device) -> torch.device:
    """The device this process trains on.

    In one process, ``device`` itself. Under torchrun, ``"cuda"`` becomes ``cuda:LOCAL_RANK``
    (one GPU per process) and ``"cpu"`` stays; an explicit CUDA index is refused, since it would
    put every process of a node on the same GPU.
    """
    device = torch.device(device)
    if not launched_by_torchrun() or device.type != "cuda":
        return device
    if device.index is not None:
        raise ValueError(
            f"device={str(device)!r} names one GPU, but torchrun starts one process per GPU: "
            "pass device 'cuda' and each process takes cuda:LOCAL_RANK (choose the GPUs with "
            "CUDA_VISIBLE_DEVICES)."
        )
    return torch.device("cuda", local_rank())


def init_distributed(device: str | torch.device = "cpu") -> torch.device:
    """Join torchrun's process group, once per process, and return this process's device.

    The backend is NCCL for a CUDA device and gloo for the CPU. A group that is already
    initialised (by the caller, or by an earlier run in this process) is used as it is. The group
    lives until the process exits: torch cannot create it again in the same torchrun process. On
    non-main ranks the root logger is raised to warning level, so every message appears once.
    Outside torchrun this returns ``torch.device(device)`` and touches nothing.

    Args:
        device: ``"cpu"`` or ``"cuda"`` (see :func:`process_device`).
    """
    device = process_device(device)
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    atexit.register(_destroy_process_group)
    if not DistributedHelper.is_main_process:
        root = logging.getLogger()
        root.setLevel(max(root.level, logging.WARNING))
    logger.info("Joined the process group: %d processes, backend %s.", DistributedHelper.world_size,
                DistributedHelper.backend)
    return device


def _destroy_process_group() -> None:
    """Close the process group at exit, unless the caller already has."""
    if dist.is_initialized():
        dist.destroy_process_group()


def call_on_main(function: Callable[..., T], *args, **kwargs) -> T:
    """Call ``function`` on the main process only and give every process its result.

    An exception raised on the main process is raised on every process, so none is left
    waiting in a collective. Outside a process group the call is direct.
    """
    if not DistributedHelper.is_distributed:
        return function(*args, **kwargs)
    outcome: tuple[bool, object] | None = None
    if DistributedHelper.is_main_process:
        try:
            outcome = (True, function(*args, **kwargs))
        except Exception as error:  # re-raised below, on every rank
            outcome = (False, error)
    succeeded, value = DistributedHelper.broadcast_object(outcome)
    if not succeeded:
        raise value
    return value


@contextmanager
def main_process_first() -> Iterator[None]:
    """Run the block on the main process, then on the others (it fills caches they read).

    Unlike Avalanche's ``DistributedHelper.main_process_first``, this leaves the random number
    generators alone, so a single-process run draws what it drew before.
    """
    if not DistributedHelper.is_main_process:
        DistributedHelper.barrier()
    yield
    if DistributedHelper.is_main_process:
        DistributedHelper.barrier()


__all__ = [
    "TORCHRUN_VARIABLES",
    "call_on_main",
    "init_distributed",
    "launched_by_torchrun",
    "local_rank",
    "main_process_first",
    "process_device",
]
