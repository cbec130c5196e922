"""The paper's data (PROTOCOL.md section 2) from the files on disk, as one config group.

``PaperData`` is both the Python API and the ``data`` group of a run's config: its fields are
the paths and options a user sets, its ``build(model)`` assembles the crops, retrieval sets and
zero-shot sets with the model's transforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .._checks import check_positive_int
from ..models.prompt_vocabulary import DEFAULT_TEMPLATES
from .datasets.coco_crops import COCOCrops
from .datasets.images import OnError
from .datasets.karpathy import KarpathyRetrieval
from .datasets.template_sets import resolve_templates
from .datasets.zeroshot_sets import zeroshot_dataset
from .experiment_data import ExperimentData
from .transforms import clip_transforms


@dataclass(frozen=True)
class PaperData:
    """COCO object crops, COCO 5K and Flickr30K retrieval, and any zero-shot sets.

    Update task: :class:`~avalanche_clip.benchmarks.datasets.COCOCrops` of every box of
    ``instances_train2014.json`` (train) and of the Karpathy test images of
    ``instances_val2014.json`` (test). Retrieval: ``coco5k`` (the Karpathy COCO test split,
    ``coco_folds`` folds) and, when its files are given, ``flickr30k`` (1 fold). Zero-shot: one
    set per entry of ``zeroshot``.
    """

    coco_root: str
    """The COCO folder holding ``train2014/`` and ``val2014/`` (and ``annotations/``)."""
    coco_karpathy_json: str
    """Karpathy's ``dataset_coco.json``."""
    coco_annotations: str | None = None
    """The folder of ``instances_train2014.json`` / ``instances_val2014.json``; default ``coco_root/annotations``."""
    flickr30k_root: str | None = None
    """The Flickr30K images folder (``flickr30k-images/``); with ``flickr30k_karpathy_json`` adds ``flickr30k``."""
    flickr30k_karpathy_json: str | None = None
    """Karpathy's ``dataset_flickr30k.json``; give it with ``flickr30k_root`` or not at all."""
    zeroshot: Mapping[str, Mapping[str, Any]] | None = None
    """Set name -> spec of ``zeroshot_dataset``, e.g. ``{tiered: {kind: folder, root: /data/tiered/test}}``."""
    templates: str | tuple[str, ...] | None = None
    """The update classes' prompts (a template-set name, a JSON file, or templates); default the paper's."""
    min_size: float = 4
    """Crops need width and height above this (pixels)."""
    include_crowd: bool = True
    """Keep COCO crowd boxes among the crops."""
    max_captions: int | None = 5
    """Captions kept per retrieval image (the protocol's 5); null keeps all."""
    coco_folds: int = 5
    """Folds of the COCO retrieval set (5 x 1K)."""
    cache_dir: str | None = None
    """Where the crop indexes are cached; default ``~/.cache/avalanche-clip``."""
    on_error: OnError = "skip"
    """``skip`` or ``raise`` on an unreadable image of a labelled set."""

    def __post_init__(self):
        check_positive_int("coco_folds", self.coco_folds)
        if self.templates is not None:
            resolve_templates(self.templates)  # refuse a bad template (no "{}") before anything is read
        if (self.flickr30k_root is None) != (self.flickr30k_karpathy_json is None):
            raise ValueError("Give both flickr30k_root and flickr30k_karpathy_json for the Flickr30K retrieval "
                             "set, or neither.")

    def build(self, model: Any) -> ExperimentData:
        """Read the files; the transforms are ``clip_transforms(model)`` (PROTOCOL.md section 2)."""
        train_transform, eval_transform = clip_transforms(model)
        annotations = Path(self.coco_annotations or Path(self.coco_root) / "annotations")
        crops = dict(min_size=self.min_size, include_crowd=self.include_crowd, cache_dir=self.cache_dir,
                     on_error=self.on_error)
        train = COCOCrops(self.coco_root, annotations / "instances_train2014.json", "train", **crops)
        test = COCOCrops(self.coco_root, annotations / "instances_val2014.json", "test",
                         karpathy_json=self.coco_karpathy_json, **crops)
        if test.class_names != train.class_names:
            raise ValueError(f"The categories of {test.instances_json} differ from those of {train.instances_json}: "
                             "the train and test crops must share the COCO category list.")
        retrieval = {"coco5k": KarpathyRetrieval(self.coco_root, self.coco_karpathy_json, "test",
                                                 transform=eval_transform, max_captions=self.max_captions)}
        folds = {"coco5k": self.coco_folds}
        if self.flickr30k_root is not None:
            retrieval["flickr30k"] = KarpathyRetrieval(self.flickr30k_root, self.flickr30k_karpathy_json, "test",
                                                       transform=eval_transform, max_captions=self.max_captions)
            folds["flickr30k"] = 1
        zeroshot = {name: zeroshot_dataset(spec, transform=eval_transform)
                    for name, spec in (self.zeroshot or {}).items()}
        return ExperimentData(
            train=train,
            test=test,
            class_names=train.class_names,
            templates=DEFAULT_TEMPLATES if self.templates is None else resolve_templates(self.templates),
            zeroshot=zeroshot,
            retrieval=retrieval,
            retrieval_folds=folds,
            train_transform=train_transform,
            eval_transform=eval_transform,
        )


__all__ = ["PaperData"]
