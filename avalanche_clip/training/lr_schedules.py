"""ZSCL's learning rates: a warmup-cosine schedule over an experience's steps, and a rate per task.

ZSCL (``mtil/src/utils.py``, ``cosine_lr``) sets the learning rate of step ``i`` (0-based) of a
task of ``T`` steps with ``W`` warmup steps to ``lr·(i+1)/W`` while ``i < W``, then to
``lr·(1 + cos(π·(i-W)/(T-W)))/2``; every task starts the schedule again. Its MTIL method scripts
(``ZSCL.sh``, ``lwf.sh``, ...) give each dataset its own ``lr`` (5e-5 for Aircraft and MNIST,
1e-5 for the others): :class:`TaskLearningRates`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Mapping, Sequence

from avalanche.core import SupervisedPlugin
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from .._checks import check_non_negative_int, check_positive, check_positive_int


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


def check_task_names(learning_rates: Mapping[str, float], task_names: Sequence[str]) -> None:
    """Refuse a learning rate for a task that is not among ``task_names``."""
    unknown = sorted(set(learning_rates) - set(task_names))
    if unknown:
        raise ValueError(f"training.task_lr names tasks {unknown} that the stream does not have. "
                         f"Its tasks: {', '.join(task_names)}.")


class TaskLearningRates(SupervisedPlugin):
    """Train each named task (an experience's ``task_name``: MTIL) at its own learning rate.

    As a task starts, the optimizer's rates and the schedule's base rates are scaled from the
    rate in effect (the schedule's base rate, else the optimizer's) to the task's, so the schedule
    runs as it would with that ``lr``. A resumed run gets both back from its checkpoint, already
    at the task's rate, and is left as it is.

    Args:
        learning_rates: task name -> its learning rate; the other tasks train at ``default``.
        default: the run's learning rate.
        task_names: the tasks of the stream; a name of ``learning_rates`` outside it is refused.
        scheduler: the run's schedule, if any (its base rates are what it scales from).
    """

    supports_distributed = True  # Avalanche's flag: every process sets the same rates

    def __init__(self, learning_rates: Mapping[str, float], *, default: float, task_names: Sequence[str],
                 scheduler: LRScheduler | None = None):
        super().__init__()
        check_task_names(learning_rates, task_names)
        self.learning_rates = {name: check_positive(f"training.task_lr[{name!r}]", lr)
                               for name, lr in learning_rates.items()}
        self.default = check_positive("default", default)
        self.scheduler = scheduler

    def before_training_exp(self, strategy, **kwargs):
        groups = strategy.optimizer.param_groups
        in_effect = self.scheduler.base_lrs[0] if self.scheduler is not None else groups[0]["lr"]
        ratio = self.learning_rates.get(strategy.experience.task_name, self.default) / in_effect
        for group in groups:
            group["lr"] *= ratio
        if self.scheduler is not None:
            self.scheduler.base_lrs = [lr * ratio for lr in self.scheduler.base_lrs]


__all__ = ["TaskLearningRates", "WarmupCosineLR", "check_task_names", "warmup_cosine_factor"]
