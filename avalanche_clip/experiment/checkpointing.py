"""Checkpointing a run: when its state is written, and how a run resumes from it.

:class:`RunCheckpointing` writes a checkpoint (see :mod:`.run_state` for what it holds and
:mod:`.checkpoint_files` for the files) every ``every_iterations`` training iterations, from its
``after_training_iteration`` callback, and when the runner calls :meth:`RunCheckpointing.save`
after each experience and its evaluation. It must see an iteration finished (the metrics updated,
the Clock counted it), so :meth:`RunCheckpointing.attach` puts it after Avalanche's ``Clock``,
the last of the strategy's own plugins. A step skipped for a non-finite loss changes nothing, so
every checkpoint holds a good state; one whose model would hold a NaN or an infinity (a fault
outside the training step) is not written, keeping the last good one.

To resume, the runner builds the run as before and calls :meth:`RunCheckpointing.resume`: the
state goes back into the strategy, and the strategy continues at the checkpoint's position in
the data (the rest of its epoch, in the same order, with the same random draws).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import SupervisedPlugin

from ..training.strategy import CLIPStrategy
from .checkpoint_files import CheckpointFiles, LoadedCheckpoint
from .run_state import (
    capture_run_state,
    restore_run_state,
    restore_training_progress,
    resume_position,
    stateless_plugins,
)

logger = logging.getLogger(__name__)


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """The dotted keys where two JSON values differ, as ``key: saved -> current``."""
    if isinstance(saved, dict) and isinstance(current, dict):
        return [difference for key in sorted(set(saved) | set(current), key=str)
                for difference in _differences(saved.get(key), current.get(key), f"{prefix}{key}.")]
    if saved != current:
        return [f"{prefix.rstrip('.') or 'config'}: {saved!r} -> {current!r}"]
    return []


class RunCheckpointing(SupervisedPlugin, supports_distributed=True):
    """Write a run's checkpoints, and resume a run from its newest good one.

    Args:
        files: the run's checkpoint files.
        every_iterations: also write one every this many training iterations (inside
            experiences); None: only when :meth:`save` is called.
        config: the run's configuration (JSON-serialisable); a checkpoint written with another
            one is refused at resume.
    """

    def __init__(self, files: CheckpointFiles, *, every_iterations: int | None = None, config: dict[str, Any]):
        super().__init__()
        self.files = files
        self.every_iterations = every_iterations
        self.config = json.loads(json.dumps(config, default=str))  # as it reads back from a checkpoint
        self.last_path: Path | None = None

    def attach(self, strategy: CLIPStrategy) -> None:
        """Add this plugin to ``strategy`` after its Clock, so it sees each iteration complete."""
        strategy.plugins.append(self)
        unsaved = stateless_plugins(strategy)
        if unsaved:
            logger.warning("Plugins %s have no state_dict: a checkpoint cannot hold their state, so a resumed run "
                           "restarts them and may differ from an uninterrupted one.", unsaved)

    def after_training_iteration(self, strategy: CLIPStrategy, **kwargs) -> None:
        if self.every_iterations is not None and strategy.clock.train_iterations % self.every_iterations == 0:
            self._write(strategy, strategy.train_position)

    def save(self, strategy: CLIPStrategy) -> Path | None:
        """Write a checkpoint between experiences (after an experience and its evaluation)."""
        return self._write(strategy, None)

    def _write(self, strategy: CLIPStrategy, position) -> Path | None:
        """Write a checkpoint, unless the model holds a non-finite value: the last good one is kept then."""
        bad = [name for name, p in strategy.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            logger.warning("No checkpoint written at iteration %d: the parameters %s hold non-finite values. The "
                           "last good checkpoint (%s) is kept.", strategy.clock.train_iterations, bad[:3],
                           self.last_path)
            return None
        state = capture_run_state(strategy, position=position, config=self.config)  # collective (RNG states)
        if DistributedHelper.is_main_process:  # the others' parameters and optimizer are the same (DDP)
            self.last_path = self.files.save(state)
        return self.last_path

    def resume(self, strategy: CLIPStrategy, checkpoint: LoadedCheckpoint) -> int:
        """Restore ``checkpoint`` into ``strategy``; return how many experiences are complete.

        The caller trains the experiences from that index on; if the checkpoint was taken inside
        an experience, the strategy resumes that experience at the checkpoint's step.

        Raises:
            ValueError: the checkpoint was written with another configuration, or does not fit
                this run's model, plugins or metrics.
        """
        state = checkpoint.state
        differences = _differences(state.get("config"), self.config)
        if differences:
            raise ValueError(
                f"Checkpoint {checkpoint.path} was written by a run with another configuration ("
                f"{'; '.join(differences[:5])}). Resume with the configuration of that run (its config.yaml), "
                "or start a new run in another --output_dir."
            )
        restore_run_state(strategy, state)
        strategy.resume_at(resume_position(state), lambda: restore_training_progress(strategy, state))
        self.last_path = checkpoint.path
        return state["experiences_completed"]

    def state_dict(self) -> dict[str, Any]:
        """Empty: the checkpoint files are this plugin's state."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see :meth:`state_dict`)."""


__all__ = ["RunCheckpointing"]
