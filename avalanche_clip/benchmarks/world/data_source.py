"""The world as a run's data source: the ``data`` config group of ``experiment.run``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..experiment_data import ExperimentData
from .load import load_data


@dataclass(frozen=True)
class WorldData:
    """The embedded world's update task, zero-shot sets and retrieval set (nothing to download)."""

    seed: int = 0
    """The world seed every set is rendered from (independent of the run's seed)."""
    train_per_class: int = 50
    """Update-task training images per class."""
    test_per_class: int = 20
    """Update-task test images per class."""
    zeroshot_per_class: int = 25
    """Images per class of each zero-shot set."""
    retrieval_size: int = 500
    """Scenes of the retrieval set (5 captions each)."""

    def build(self, model: Any = None) -> ExperimentData:
        """Render the sets (the world's own transforms; ``model`` is not needed)."""
        return load_data(**asdict(self))


__all__ = ["WorldData"]
