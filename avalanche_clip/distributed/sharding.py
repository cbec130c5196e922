"""Which samples each process reads: ``DistributedSampler`` shards, in one process too.

Every evaluation loader of the library draws its indices from :func:`shard_sampler`, a
``torch.utils.data.DistributedSampler`` over this process's rank and the world size (one and
zero outside a process group, where it is the whole dataset); ``CLIPStrategy``'s training
loader draws them from :class:`~avalanche_clip.training.SeededEpochSampler`, which shards the
same way and can also resume in the middle of an epoch. Their shuffle is a permutation seeded
by the seed and the epoch (and, for training, the experience) and independent of the number of
processes; process ``r`` of ``N`` reads positions ``r, r + N, r + 2N, ...`` of it, padded at the
end by wrapping around so every process gets ``ceil(len / N)`` samples. Hence:

- training: batch ``k`` of the N processes together (batch size ``b`` each) is batch ``k`` of
  a single process with batch size ``N·b`` and the same seed, positions ``k·N·b ... (k+1)·N·b − 1``;
- evaluation (no shuffle): the per-process features interleaved are the dataset in order,
  followed by the padding (see :func:`~avalanche_clip.distributed.gather.gather_shards`).
"""

from __future__ import annotations

from typing import Sized

from avalanche.distributed import DistributedHelper
from torch.utils.data import DistributedSampler


def shard_sampler(dataset: Sized, *, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
                  num_replicas: int | None = None, rank: int | None = None) -> DistributedSampler:
    """A ``DistributedSampler`` of this process's shard of ``dataset``.

    Args:
        dataset: anything with a length.
        shuffle: draw a permutation per epoch (``set_epoch``) from ``seed``; else the dataset order.
        seed: seeds the permutation; the same on every process.
        drop_last: drop the tail that does not divide evenly among the processes instead of
            padding it.
        num_replicas: the number of processes; default: the process group's (1 without one).
        rank: this process's rank; default: the process group's (0 without one).
    """
    return DistributedSampler(
        dataset,
        num_replicas=DistributedHelper.world_size if num_replicas is None else num_replicas,
        rank=DistributedHelper.rank if rank is None else rank,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )


def shard_indices(length: int) -> list[int]:
    """This process's positions of a sequence of ``length`` items, in order, padded (no shuffle)."""
    return list(shard_sampler(range(length)))


__all__ = ["shard_indices", "shard_sampler"]
