"""Reproducible data order: a shuffle that is a function of (seed, experience, epoch).

A resumed run must see the rest of an epoch in the order the interrupted run would have, so
the order cannot come from the global RNG's state at the moment a DataLoader is iterated.
:class:`SeededEpochSampler` draws each epoch's permutation from a ``torch.Generator`` seeded
with :func:`derive_seed` ``(seed, experience, epoch)``, and can start an epoch after the batches
already done (:meth:`SeededEpochSampler.skip`) without reading them.
"""

from __future__ import annotations

import hashlib
from typing import Iterator

import torch
from torch.utils.data import Sampler

from .._checks import check_non_negative_int, check_positive_int


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed that depends on every part, stable across processes and platforms.

    ``derive_seed(seed, "data", experience, epoch)`` gives unrelated seeds for neighbouring
    parts (unlike ``seed + epoch``), so streams seeded from one run seed do not overlap.
    """
    text = "/".join(repr(part) for part in parts).encode("utf-8")
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "little") >> 1


class SeededEpochSampler(Sampler[int]):
    """Indices ``0..length-1`` in a permutation fixed by ``(seed, experience, epoch)``.

    The strategy calls :meth:`set_epoch` before each epoch. With ``num_replicas > 1`` each rank
    takes every ``num_replicas``-th index of the same permutation (padded by wrapping around, as
    ``DistributedSampler`` does), so the ranks' shards are disjoint and together cover the data.

    ``worker_generator`` is the DataLoader's ``generator``: it is reseeded from ``(seed,
    experience, epoch)`` by :meth:`set_epoch`, so the seeds of the loader's worker processes (their
    augmentation) are fixed per epoch too, and iterating the loader never draws from the global RNG.

    Args:
        length: the dataset's length.
        seed: the run's seed.
        experience: the experience id, so each experience has its own orders.
        shuffled: False reads the indices in order (skipping still works).
        drop_last: drop the tail that does not divide evenly among the processes instead of
            padding it.
        num_replicas: how many processes share the data.
        rank: this process's index among them.
    """

    def __init__(self, length: int, *, seed: int, experience: int, shuffled: bool = True, drop_last: bool = False,
                 num_replicas: int = 1, rank: int = 0):
        super().__init__()
        self.length = check_non_negative_int("length", length)
        self.seed = seed
        self.experience = experience
        self.shuffled = shuffled
        self.drop_last = drop_last
        self.num_replicas = check_positive_int("num_replicas", num_replicas)
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in 0..{num_replicas - 1}, got {rank!r}.")
        self.rank = rank
        self.worker_generator = torch.Generator()
        self._skip = 0
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation (and worker seeds) of ``epoch`` from the next iteration on."""
        self.epoch = epoch
        self.worker_generator.manual_seed(derive_seed(self.seed, "workers", self.experience, epoch))

    def skip(self, samples: int) -> None:
        """Start the next iteration (only) after its first ``samples`` indices."""
        if samples < 0:
            raise ValueError(f"samples must be >= 0, got {samples!r}.")
        self._skip = samples

    def permutation(self) -> list[int]:
        """This rank's indices of the current epoch, in order (none skipped)."""
        if self.shuffled:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, "data", self.experience, self.epoch))
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        total = len(self) * self.num_replicas  # below the length with drop_last
        while len(order) < total:  # wrap around so that every rank gets as many indices
            order += order[: total - len(order)]
        return order[self.rank:total:self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        skip, self._skip = self._skip, 0
        return iter(self.permutation()[skip:])

    def __len__(self) -> int:
        if self.drop_last:
            return self.length // self.num_replicas
        return -(-self.length // self.num_replicas)


__all__ = ["SeededEpochSampler", "derive_seed"]
