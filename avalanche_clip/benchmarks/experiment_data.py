"""Everything one run of the protocol needs besides the model, as one value.

The embedded world (``world.load``) and the paper's real data (COCO crops, Karpathy splits,
zero-shot sets) are both built into this, so the runner and the examples do not care which.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .._checks import check_positive_int
from ..models.prompts import DEFAULT_TEMPLATES
from .datasets.coco_crops import COCOCrops
from .datasets.images import OnError
from .datasets.karpathy import KarpathyRetrieval
from .datasets.protocols import RetrievalDataset, ZeroShotDataset
from .datasets.template_sets import resolve_templates
from .datasets.zeroshot import zeroshot_dataset


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
    """

    train: Any
    test: Any
    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    zeroshot: Mapping[str, ZeroShotDataset] = field(default_factory=dict)
    retrieval: Mapping[str, RetrievalDataset] = field(default_factory=dict)
    retrieval_folds: Mapping[str, int] = field(default_factory=dict)


def paper_experiment_data(
    *,
    coco_root: str | os.PathLike,
    coco_karpathy_json: str | os.PathLike,
    eval_transform: Callable[[Any], Any] | None,
    coco_annotations: str | os.PathLike | None = None,
    flickr30k_root: str | os.PathLike | None = None,
    flickr30k_karpathy_json: str | os.PathLike | None = None,
    zeroshot: Mapping[str, Mapping[str, Any]] | None = None,
    templates: str | Sequence[str] | None = None,
    min_size: float = 4,
    include_crowd: bool = True,
    max_captions: int | None = 5,
    coco_folds: int = 5,
    cache_dir: str | os.PathLike | None = None,
    on_error: OnError = "skip",
) -> ExperimentData:
    """The paper's data (PROTOCOL.md section 2) from the files on disk.

    Update task: :class:`~avalanche_clip.benchmarks.datasets.COCOCrops` of every box of
    ``instances_train2014.json`` (train) and of the Karpathy test images of
    ``instances_val2014.json`` (test), untransformed (the benchmark applies the transforms).
    Retrieval: ``"coco5k"`` (the Karpathy COCO test split, ``coco_folds`` folds) and, when its
    files are given, ``"flickr30k"`` (the Karpathy Flickr30K test split, 1 fold). Zero-shot: one
    set per entry of ``zeroshot``. Evaluation sets get ``eval_transform``.

    Args:
        coco_root: the COCO folder holding ``train2014/`` and ``val2014/`` (and ``annotations/``).
        coco_karpathy_json: Karpathy's ``dataset_coco.json``.
        eval_transform: the image transform of the evaluation sets (``clip_transforms(model)[1]``).
        coco_annotations: the folder of ``instances_train2014.json`` and
            ``instances_val2014.json``; default ``coco_root/annotations``.
        flickr30k_root: the Flickr30K images folder (``flickr30k-images/``); with
            ``flickr30k_karpathy_json`` (Karpathy's ``dataset_flickr30k.json``), adds the
            ``"flickr30k"`` retrieval set. Give both or neither.
        flickr30k_karpathy_json: see ``flickr30k_root``.
        zeroshot: set name -> spec of :func:`~avalanche_clip.benchmarks.datasets.zeroshot_dataset`,
            e.g. ``{"tiered": {"kind": "folder", "root": "/data/tiered/test"}}``.
        templates: the update classes' prompt templates (a set name, a JSON file, or templates);
            default ``"this is a photo of {} in the scene ."``.
        min_size: crops need width and height above this (pixels).
        include_crowd: keep COCO crowd boxes among the crops.
        max_captions: captions kept per retrieval image (the protocol's 5); None keeps all.
        coco_folds: folds of the COCO retrieval set (5 x 1K).
        cache_dir: where the crop indexes are cached; default ``~/.cache/avalanche-clip``.
        on_error: ``"skip"`` or ``"raise"`` on an unreadable image of a labelled set.
    """
    check_positive_int("coco_folds", coco_folds)
    if (flickr30k_root is None) != (flickr30k_karpathy_json is None):
        raise ValueError("Give both flickr30k_root and flickr30k_karpathy_json for the Flickr30K retrieval "
                         "set, or neither.")
    annotations = Path(coco_annotations) if coco_annotations is not None else Path(coco_root) / "annotations"
    crops = dict(min_size=min_size, include_crowd=include_crowd, cache_dir=cache_dir, on_error=on_error)
    train = COCOCrops(coco_root, annotations / "instances_train2014.json", "train", **crops)
    test = COCOCrops(coco_root, annotations / "instances_val2014.json", "test", karpathy_json=coco_karpathy_json,
                     **crops)
    if test.class_names != train.class_names:
        raise ValueError(f"The categories of {test.instances_json} differ from those of {train.instances_json}: "
                         "the train and test crops must share the COCO category list.")
    retrieval = {"coco5k": KarpathyRetrieval(coco_root, coco_karpathy_json, "test", transform=eval_transform,
                                             max_captions=max_captions)}
    folds = {"coco5k": coco_folds}
    if flickr30k_root is not None:
        retrieval["flickr30k"] = KarpathyRetrieval(flickr30k_root, flickr30k_karpathy_json, "test",
                                                   transform=eval_transform, max_captions=max_captions)
        folds["flickr30k"] = 1
    return ExperimentData(
        train=train,
        test=test,
        class_names=train.class_names,
        templates=DEFAULT_TEMPLATES if templates is None else resolve_templates(templates),
        zeroshot={name: zeroshot_dataset(spec, transform=eval_transform) for name, spec in (zeroshot or {}).items()},
        retrieval=retrieval,
        retrieval_folds=folds,
    )


__all__ = ["ExperimentData", "paper_experiment_data"]
