"""ZSCL's learning-rate schedule: a linear warmup, then a cosine decay to zero, over an experience's steps.

ZSCL (``mtil/src/utils.py``, ``cosine_lr``) sets the learning rate of step ``i`` (0-based) of a
task of ``T`` steps with ``W`` warmup steps to ``lr·(i+1)/W`` while ``i < W``, then to
``lr·(1 + cos(π·(i-W)/(T-W)))/2``; every task starts the schedule again.
"""

from __future__ import annotations

import math
from functools import partial

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from .._checks import check_non_negative_int, check_positive_int


def warmup_cosine_factor(step: int, *, warmup: int, total: int) -> float:
    """The learning rate of ``step`` (0-based) of ``total``, as a fraction of the base learning rate."""
    if step < warmup:
        return (step + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))


class WarmupCosineLR(LambdaLR):
    """:func:`warmup_cosine_factor` as a scheduler stepped after every training iteration.

    Avalanche's ``LRSchedulerPlugin`` (``step_granularity="iteration"``) steps it, and at the end
    of each experience sets the base learning rate and ``last_epoch = 0`` and calls :meth:`reset`,
    so the next experience starts the schedule again from its first step's learning rate.

    Args:
        optimizer: the optimizer whose learning rate it sets.
        warmup: steps of linear warmup (ZSCL: 100); 0: none.
        total: steps of an experience (ZSCL: 1000); the decay reaches 0 at step ``total``.
    """

    def __init__(self, optimizer: Optimizer, *, warmup: int, total: int):
        check_positive_int("total", total)
        if check_non_negative_int("warmup", warmup) >= total:
            raise ValueError(f"warmup must be below total={total}, got {warmup!r}.")
        self.warmup, self.total = warmup, total
        super().__init__(optimizer, partial(warmup_cosine_factor, warmup=warmup, total=total))

    def reset(self) -> None:
        """Give the optimizer the learning rate of step 0 again (after the plugin's reset to ``last_epoch = 0``)."""
        for group, base_lr, factor in zip(self.optimizer.param_groups, self.base_lrs, self.lr_lambdas):
            group["lr"] = base_lr * factor(0)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


__all__ = ["WarmupCosineLR", "warmup_cosine_factor"]
