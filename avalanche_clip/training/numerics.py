"""Numerical faults in training: a non-finite loss or gradient is caught at its step.

:class:`NonFiniteGuard` is what :class:`~avalanche_clip.training.CLIPStrategy` consults at every
step (``strategy.nonfinite``): a step whose loss is not finite is skipped (no backward, no
update) and counted; so is the update of a step whose gradient norm is not finite (fp32 and
bf16; in fp16 the GradScaler already skips those steps and lowers its scale). After
``max_consecutive`` faulty steps in a row the run stops with :class:`NonFiniteLossError`: the
model no longer trains, and checkpoints written before the streak are kept.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

from .._checks import check_positive_int

logger = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Raised when too many consecutive training steps had a non-finite loss or gradient."""


class NonFiniteGuard:
    """Count the steps skipped for a non-finite value; stop after a streak of them.

    Args:
        max_consecutive: stop at this many faulty steps in a row (1: at the first one).

    Attributes:
        skipped: faulty steps so far, in the whole run.
        streak: faulty steps since the last good one.
    """

    def __init__(self, *, max_consecutive: int = 10):
        self.max_consecutive = check_positive_int("max_consecutive", max_consecutive)
        self.skipped = 0
        self.streak = 0

    def check(self, value: Tensor, *, what: str, where: str) -> bool:
        """True if every element of ``value`` is finite; else count the step and return False.

        Args:
            value: the loss, or the gradient norm.
            what: what ``value`` is, for the messages (``"loss"``).
            where: the step, for the messages (``"experience 1, epoch 0, batch 4"``).

        Raises:
            NonFiniteLossError: this is the ``max_consecutive``-th faulty step in a row.
        """
        if bool(torch.isfinite(value.detach()).all()):
            return True
        self.skipped += 1
        self.streak += 1
        shown = value.detach().float().flatten()[:1].item()
        if self.streak >= self.max_consecutive:
            raise NonFiniteLossError(
                f"The {what} was not finite ({shown}) at {where}: {self.streak} training steps in a row had a "
                f"non-finite loss or gradient ({self.skipped} skipped in all), so training stops. "
                "Checkpoints written before these steps are kept (resume with --resume). Lower the learning "
                "rate, use precision fp32, or check the data."
            )
        logger.warning("Skipped the training step at %s: its %s is %s (%d in a row, %d in all; the run stops "
                       "at %d in a row).", where, what, shown, self.streak, self.skipped, self.max_consecutive)
        return False

    def step_done(self) -> None:
        """A step updated the model: the streak ends."""
        self.streak = 0

    def state_dict(self) -> dict[str, Any]:
        """The counts, to resume a run."""
        return {"skipped": self.skipped, "streak": self.streak}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.skipped = int(state["skipped"])
        self.streak = int(state["streak"])


__all__ = ["NonFiniteGuard", "NonFiniteLossError"]
