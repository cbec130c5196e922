"""Everything one run of the protocol needs besides the model, as one value.

The embedded world (``world.load``) and the paper's real data (COCO crops, Karpathy splits,
zero-shot sets) are both built into this, so the runner and the examples do not care which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

from .datasets.protocols import RetrievalDataset, ZeroShotDataset


@dataclass(frozen=True)
class ExperimentData:
    """The update task and the evaluation sets of one run.

    Attributes:
        train: update-task training set of ``(image, label)`` with ``.targets``; images are
            untransformed (the benchmark applies the train / eval transforms).
        test: update-task test set, same form.
        class_names: the update classes, index = label.
        templates: the prompt templates of the update classes.
        zeroshot: named zero-shot sets, transform applied.
        retrieval: named retrieval sets, transform applied.
        retrieval_folds: per retrieval set, how many equal folds recall is averaged over
            (5 for COCO 5K as 5 x 1K; 1 = the whole set); sets not listed use 1.
        train_transform: the update task's training transform, for the benchmark generators.
        eval_transform: the update task's test transform, for the benchmark generators.
    """

    train: Any
    test: Any
    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    zeroshot: Mapping[str, ZeroShotDataset] = field(default_factory=dict)
    retrieval: Mapping[str, RetrievalDataset] = field(default_factory=dict)
    retrieval_folds: Mapping[str, int] = field(default_factory=dict)
    train_transform: Callable[[Any], Any] | None = None
    eval_transform: Callable[[Any], Any] | None = None


class DataSource(Protocol):
    """Anything that builds the :class:`ExperimentData` of a run for a given model.

    The model matters for the transforms (input size, normalisation). ``PaperData`` (the
    paper's files) and ``world.WorldData`` (the embedded world) are the two shipped sources.
    """

    def build(self, model: Any) -> ExperimentData: ...


__all__ = ["DataSource", "ExperimentData"]
