"""Checkpointing a run: when its state is written, and how a run resumes from it.

:class:`RunCheckpointing` writes a checkpoint (see :mod:`.run_state` for what it holds and
:mod:`.checkpoint_files` for the files) every ``every_iterations`` training iterations, from its
``after_training_iteration`` callback, and when the runner calls :meth:`RunCheckpointing.save`
after each experience and its evaluation. It must see an iteration finished (the metrics updated,
the Clock counted it), so :meth:`RunCheckpointing.attach` puts it after Avalanche's ``Clock``,
the last of the strategy's own plugins. A step skipped for a non-finite loss changes nothing, so
every checkpoint holds a good state; one whose model would hold a NaN or an infinity (a fault
outside the training step) is not written, keeping the last good one.

To resume, the runner builds the run as before, attaches the plugin and calls
:meth:`RunCheckpointing.resume`: the state goes back into the strategy's components, and the
strategy continues at the checkpoint's position in the data (the rest of its epoch, in the same
order, with the same random draws); the plugin's ``before_training_epoch``, the last of that
epoch's start callbacks, puts back what the loop builds or resets at its start.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import SupervisedPlugin

from ..training import CLIPStrategy
from .checkpoint_files import CheckpointFiles, LoadedCheckpoint
from .run_state import (
    capture_run_state,
    check_state_format,
    experiences_completed,
    restore_at_resume_point,
    restore_run_state,
    stateless_components,
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
        self._resuming: dict[str, Any] | None = None  # a checkpoint whose resume point is not reached yet

    def attach(self, strategy: CLIPStrategy) -> None:
        """Add this plugin to ``strategy`` after its Clock, so it sees each iteration complete."""
        strategy.plugins.append(self)
        unsaved = stateless_components(strategy)
        if unsaved:
            logger.warning("%s hold state a checkpoint cannot save (a plugin that is not a MethodPlugin, a metric "
                           "with no state_dict): a resumed run restarts them and may differ from an uninterrupted "
                           "one.", unsaved)

    def after_training_iteration(self, strategy: CLIPStrategy, **kwargs) -> None:
        if self.every_iterations is not None and strategy.clock.train_iterations % self.every_iterations == 0:
            self._write(strategy)

    def save(self, strategy: CLIPStrategy) -> Path | None:
        """Write a checkpoint between experiences (after an experience and its evaluation)."""
        return self._write(strategy)

    def _write(self, strategy: CLIPStrategy) -> Path | None:
        """Write a checkpoint, unless the model holds a non-finite value: the last good one is kept then."""
        bad = [name for name, p in strategy.model.named_parameters() if not bool(torch.isfinite(p).all())]
        if bad:
            logger.warning("No checkpoint written at iteration %d: the parameters %s hold non-finite values. The "
                           "last good checkpoint (%s) is kept.", strategy.clock.train_iterations, bad[:3],
                           self.last_path)
            return None
        state = capture_run_state(strategy, config=self.config)  # collective (RNG states)
        if DistributedHelper.is_main_process:  # the others' parameters and optimizer are the same (DDP)
            self.last_path = self.files.save(state)
        return self.last_path

    def resume(self, strategy: CLIPStrategy, checkpoint: LoadedCheckpoint) -> int:
        """Restore ``checkpoint`` into ``strategy``; return how many experiences are complete.

        The caller trains the experiences from that index on; if the checkpoint was taken inside
        an experience, the strategy resumes that experience at the checkpoint's step.

        Raises:
            ValueError: the checkpoint has another format, was written with another configuration,
                or does not fit this run's model, plugins or metrics.
        """
        state = checkpoint.state
        check_state_format(state, checkpoint.path)
        differences = _differences(state.get("config"), self.config)
        if differences:
            raise ValueError(
                f"Checkpoint {checkpoint.path} was written by a run with another configuration ("
                f"{'; '.join(differences[:5])}). Resume with the configuration of that run (its config.yaml), "
                "or start a new run in another --output_dir."
            )
        if self not in strategy.plugins:
            raise RuntimeError("RunCheckpointing.resume needs the plugin attached to the strategy (attach), to "
                               "restore the rest of the state where training resumes.")
        restore_run_state(strategy, state)
        self._resuming = state
        self.last_path = checkpoint.path
        return experiences_completed(state)

    def before_training_epoch(self, strategy: CLIPStrategy, **kwargs) -> None:
        """At the resumed epoch's start, after the other callbacks: the rest of the checkpoint's state."""
        state, self._resuming = self._resuming, None
        if state is not None:
            restore_at_resume_point(strategy, state)


__all__ = ["RunCheckpointing"]
