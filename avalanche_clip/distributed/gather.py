"""Putting the processes' shards back together, and averaging what must be equal on every rank.

The shards come from :func:`~avalanche_clip.distributed.sharding.shard_sampler` without shuffle:
process ``r`` of ``N`` holds positions ``r, r + N, ...``, all processes the same number. So the
``j``-th rows of the N shards are positions ``j·N ... j·N + N − 1``: stacking the gathered shards
along a new second axis and flattening gives the positions in order, padding last.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.distributed as dist
from avalanche.distributed import DistributedHelper
from torch import Tensor


def interleave_shards(shards: Sequence[Tensor], keep: int) -> Tensor:
    """The first ``keep`` rows of the interleaved shards ``[n, ...]`` (one per rank, in rank order).

    Row ``j`` of shard ``r`` becomes row ``j·N + r`` of the result, ``N = len(shards)``.
    """
    return torch.stack(list(shards), dim=1).flatten(0, 1)[:keep]  # [n, N, ...] -> [n·N, ...] -> [keep, ...]


def batch_rows(batch_size: int, position: int, total: int, world_size: int) -> int:
    """How many rows of a gathered batch are samples, not padding.

    Args:
        batch_size: the rows of this batch on each process.
        position: the rows each process read before this batch.
        total: the dataset's length.
        world_size: the number of processes.
    """
    return max(0, min(world_size * batch_size, total - world_size * position))


def gather_shards(local: Tensor, keep: int) -> Tensor:
    """Every process's ``local`` rows ``[n, ...]``, interleaved in dataset order, the first ``keep``.

    All processes must pass tensors of the same shape and dtype (the shards of one
    ``shard_sampler``, or the same batch of it). Outside a process group: ``local[:keep]``.
    """
    if not DistributedHelper.is_distributed:
        return local[:keep]
    return interleave_shards(DistributedHelper.gather_all(local.contiguous(), same_shape=True), keep)


def average_across_ranks(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The mean over the processes of each tensor (the same names, in the same order, on every rank)."""
    if not DistributedHelper.is_distributed:
        return dict(tensors)
    averaged = {}
    for name, tensor in tensors.items():
        total = tensor.detach().clone()
        dist.all_reduce(total)
        averaged[name] = total / DistributedHelper.world_size
    return averaged


__all__ = ["average_across_ranks", "batch_rows", "gather_shards", "interleave_shards"]
