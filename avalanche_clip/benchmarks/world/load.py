"""``world.load()``: the pretrained world CLIP and the paper's protocol on the world.

The update task is the analog of the COCO object crops: one-object scenes of the 16 update
categories on cluttered backgrounds, prompt "this is a photo of {} in the scene .". The
zero-shot sets hold what pretraining taught and the update does not train: the 8 held-out
categories, and the 8 colours. The retrieval set holds unseen scenes of the pretraining
distribution with 5 captions each. Every set is rendered from ``seed`` on streams that the
pretraining corpus never uses.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ...models import CLIPClassifier
from ...models.clip_classifier import TrainMask
from ...models.variants import UpdateVariant
from ..experiment_data import ExperimentData
from .concepts import COLOURS, HELD_OUT_CATEGORIES, UPDATE_CATEGORIES
from .datasets import WorldCaptions, WorldObjects
from .prompts import COLOUR_TEMPLATES, SHAPE_TEMPLATES, UPDATE_TEMPLATES
from .tokenizer import world_tokenizer
from .transforms import world_eval_transform
from .weights import IMAGE_MEAN, IMAGE_STD, build_world_clip, load_weights, world_clip_config

STREAMS: dict[str, int] = {"train": 1, "test": 2, "shapes": 3, "colours": 4, "scenes": 5}
"""The stream id of each set (the pretraining corpus is stream 0)."""

ZEROSHOT_SETS: tuple[str, ...] = ("world-heldout-shapes", "world-colours")
"""Names of the zero-shot sets in :attr:`ExperimentData.zeroshot`."""

RETRIEVAL_SETS: tuple[str, ...] = ("world-scenes",)
"""Names of the retrieval sets in :attr:`ExperimentData.retrieval`."""


class LoadedWorld(NamedTuple):
    """What :func:`load` returns; unpack it as ``model, data = world.load()``."""

    model: CLIPClassifier
    data: ExperimentData


def load_model(
    *,
    update: UpdateVariant = "whole",
    train_mask: TrainMask = "current",
    weights: str | None = None,
    device: str | torch.device = "cpu",
) -> CLIPClassifier:
    """The pretrained world CLIP as a :class:`CLIPClassifier` with the update prompt.

    Args:
        update: which part trains: ``"whole"``, ``"image"`` or ``"text"``.
        train_mask: which classes the training logits keep (see :class:`CLIPClassifier`).
        weights: a weights file (with its ``.sha256`` beside it); default: the shipped one.
        device: where to put the model.
    """
    clip = load_weights(build_world_clip(), weights).to(device)
    return CLIPClassifier(
        clip, world_tokenizer(), update=update, templates=UPDATE_TEMPLATES, train_mask=train_mask,
        preprocess_cfg={"size": clip.visual.image_size, "mean": IMAGE_MEAN, "std": IMAGE_STD},
    )


def load_data(
    *,
    seed: int = 0,
    train_per_class: int = 50,
    test_per_class: int = 20,
    zeroshot_per_class: int = 25,
    retrieval_size: int = 500,
) -> ExperimentData:
    """The update task and the evaluation sets, rendered from ``seed``.

    The update train/test images are PIL images (the benchmark generators apply the transforms:
    use :func:`~.transforms.world_transforms`); the zero-shot and retrieval images are normalised
    tensors ``[3, 64, 64]``.

    Args:
        seed: the world seed of every set.
        train_per_class: update-task training images per class (16 classes).
        test_per_class: update-task test images per class.
        zeroshot_per_class: images per class of each zero-shot set (8 classes each).
        retrieval_size: scenes of the retrieval set (5 captions each).
    """
    image_size = world_clip_config()["vision_cfg"]["image_size"]
    evaluation = world_eval_transform()
    shapes = WorldObjects(HELD_OUT_CATEGORIES, per_class=zeroshot_per_class, seed=seed, stream=STREAMS["shapes"],
                          templates=SHAPE_TEMPLATES, image_size=image_size, transform=evaluation)
    colours = WorldObjects(tuple(COLOURS), per_class=zeroshot_per_class, seed=seed, stream=STREAMS["colours"],
                           label="colour", templates=COLOUR_TEMPLATES, image_size=image_size, transform=evaluation)
    scenes = WorldCaptions(retrieval_size, seed=seed, stream=STREAMS["scenes"], image_size=image_size,
                           transform=evaluation)
    return ExperimentData(
        train=WorldObjects(UPDATE_CATEGORIES, per_class=train_per_class, seed=seed, stream=STREAMS["train"],
                           view="crop", distractors=UPDATE_CATEGORIES, image_size=image_size),
        test=WorldObjects(UPDATE_CATEGORIES, per_class=test_per_class, seed=seed, stream=STREAMS["test"],
                          view="crop", distractors=UPDATE_CATEGORIES, image_size=image_size),
        class_names=UPDATE_CATEGORIES,
        templates=UPDATE_TEMPLATES,
        zeroshot=dict(zip(ZEROSHOT_SETS, (shapes, colours))),
        retrieval=dict(zip(RETRIEVAL_SETS, (scenes,))),
        retrieval_folds={name: 1 for name in RETRIEVAL_SETS},
    )


def load(
    *,
    update: UpdateVariant = "whole",
    train_mask: TrainMask = "current",
    seed: int = 0,
    train_per_class: int = 50,
    test_per_class: int = 20,
    zeroshot_per_class: int = 25,
    retrieval_size: int = 500,
    weights: str | None = None,
    device: str | torch.device = "cpu",
) -> LoadedWorld:
    """The pretrained world CLIP and the protocol's data on the world, with no download.

    ``model, data = world.load()``; see :func:`load_model` and :func:`load_data` for the
    arguments. Build the benchmarks with ``ost_benchmark(data.train, data.test,
    data.class_names, templates=data.templates, train_transform=..., eval_transform=...)`` (or
    ``mst_benchmark``) and the transforms of :func:`~.transforms.world_transforms`.
    """
    return LoadedWorld(
        load_model(update=update, train_mask=train_mask, weights=weights, device=device),
        load_data(seed=seed, train_per_class=train_per_class, test_per_class=test_per_class,
                  zeroshot_per_class=zeroshot_per_class, retrieval_size=retrieval_size),
    )


__all__ = ["LoadedWorld", "RETRIEVAL_SETS", "STREAMS", "ZEROSHOT_SETS", "load", "load_data", "load_model"]
