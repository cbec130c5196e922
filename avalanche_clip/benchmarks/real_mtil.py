"""The 11 real MTIL datasets from the files on disk, as the ``data`` group of an MTIL run.

``MTILDatasets`` is both the Python API and the config group: its fields are what a user sets
(the root folder, which datasets, zero-shot sets beside them), its ``build(model)`` reads the
datasets with :func:`~avalanche_clip.benchmarks.datasets.mtil_tasks` and gives them the model's
CLIP transforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .._checks import check_name
from .datasets.mtil_datasets import MTIL_DATASETS, MTIL_SPLIT_SEED, mtil_tasks
from .datasets.zeroshot_sets import zeroshot_dataset
from .mtil import MTILData, MTILSource
from .transforms import clip_transforms


@dataclass(frozen=True)
class MTILDatasets(MTILSource):
    """Aircraft, Caltech101, CIFAR100, DTD, EuroSAT, Flowers, Food, MNIST, OxfordPet, StanfordCars, SUN397.

    Each is read by its torchvision class from ``root`` with ZSCL's splits, class names and
    templates (see :mod:`avalanche_clip.benchmarks.datasets.mtil_datasets`); the run's
    ``protocol.task_order`` (``I`` or ``II``) orders them.
    """

    root: str
    """The folder holding torchvision's folder of each dataset (fgvc-aircraft-2013b/, caltech101/, ...)."""
    names: tuple[str, ...] = MTIL_DATASETS
    """The datasets to read (default all 11)."""
    split_seed: int = MTIL_SPLIT_SEED
    """The seed of the 80/20 split of Caltech101, EuroSAT and SUN397 (ZSCL's 42)."""
    zeroshot: Mapping[str, Mapping[str, Any]] | None = None
    """Set name -> spec of ``zeroshot_dataset``: held-out sets measured beside the tasks."""

    def __post_init__(self):
        for name in self.names:
            check_name("MTIL dataset", name, MTIL_DATASETS)

    def task_names(self) -> tuple[str, ...]:
        return self.names

    def build(self, model: Any) -> MTILData:
        """Read the datasets (every one's files checked first); transforms: ``clip_transforms(model)``."""
        train_transform, eval_transform = clip_transforms(model)
        tasks = mtil_tasks(Path(self.root), names=self.names, split_seed=self.split_seed)
        zeroshot = {name: zeroshot_dataset(spec, transform=eval_transform)
                    for name, spec in (self.zeroshot or {}).items()}
        return MTILData(tasks=tuple(tasks), zeroshot=zeroshot, train_transform=train_transform,
                        eval_transform=eval_transform)


__all__ = ["MTILDatasets"]
