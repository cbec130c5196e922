"""``world.load()``: the pretrained world CLIP and the paper's protocol on the world.

The update task is the analog of the COCO object crops: crops around an object of the 16 update
categories among other objects, faded to half contrast, prompt "this is a photo of {} in the
scene .". The zero-shot sets hold what pretraining taught and the update does not train: the 8
held-out categories, and the 8 colours. The retrieval set holds unseen scenes of the pretraining
distribution with 5 captions each. Every set is rendered from ``seed`` on streams that the
pretraining corpus never uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import torch

from ...models import CLIPClassifier
from ...models.clip_classifier import TrainMask
from ...models.variants import UpdateVariant
from ..experiment_data import ExperimentData
from .concepts import COLOURS, HELD_OUT_CATEGORIES, UPDATE_CATEGORIES
from .image_sets import WorldCaptions, WorldObjects
from .prompt_templates import COLOUR_TEMPLATES, SHAPE_TEMPLATES, UPDATE_TEMPLATES
from .bpe_tokenizer import world_tokenizer
from .scene_transforms import world_transforms
from .weights import IMAGE_MEAN, IMAGE_STD, build_world_clip, load_weights, world_clip_config

STREAMS: dict[str, int] = {"train": 1, "test": 2, "shapes": 3, "colours": 4, "scenes": 5, "reference": 6}
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
    return world_classifier(load_weights(build_world_clip(), weights).to(device), update=update,
                            train_mask=train_mask)


def world_classifier(clip: torch.nn.Module, *, update: UpdateVariant = "whole",
                     train_mask: TrainMask = "current") -> CLIPClassifier:
    """A world CLIP (pretrained or not) as a :class:`CLIPClassifier`: the world tokenizer, the
    update prompt and the world's image normalisation."""
    return CLIPClassifier(
        clip, world_tokenizer(), update=update, templates=UPDATE_TEMPLATES, train_mask=train_mask,
        preprocess_cfg={"size": clip.visual.image_size, "mean": IMAGE_MEAN, "std": IMAGE_STD},
    )


@dataclass(frozen=True)
class WorldData:
    """The world's update task, zero-shot sets and retrieval set, rendered from a seed.

    Also the ``data`` config group of a run (``experiment.run``): nothing to download.
    """

    seed: int = 0
    """The world seed every set is rendered from (independent of the run's seed)."""
    train_per_class: int = 50
    """Update-task training images per class (16 classes)."""
    test_per_class: int = 20
    """Update-task test images per class."""
    zeroshot_per_class: int = 25
    """Images per class of each zero-shot set (8 classes each)."""
    retrieval_size: int = 500
    """Scenes of the retrieval set (5 captions each)."""

    def build(self, model: Any = None) -> ExperimentData:
        """Render the sets; ``model`` is not needed (the world has its own transforms).

        The update train/test images are PIL images (the benchmark generators apply
        ``data.train_transform`` / ``data.eval_transform``, which shift by up to 4 px and never
        flip: a flip would mirror arrows and swap left and right); the zero-shot and retrieval
        images are normalised tensors.
        """
        image_size = world_clip_config()["vision_cfg"]["image_size"]
        train_transform, evaluation = world_transforms(image_size)
        sizes = dict(seed=self.seed, image_size=image_size)
        shapes = WorldObjects(HELD_OUT_CATEGORIES, per_class=self.zeroshot_per_class, stream=STREAMS["shapes"],
                              templates=SHAPE_TEMPLATES, transform=evaluation, **sizes)
        colours = WorldObjects(tuple(COLOURS), per_class=self.zeroshot_per_class, stream=STREAMS["colours"],
                               label="colour", templates=COLOUR_TEMPLATES, transform=evaluation, **sizes)
        scenes = WorldCaptions(self.retrieval_size, stream=STREAMS["scenes"], transform=evaluation, **sizes)
        update = dict(view="crop", distractors=UPDATE_CATEGORIES, **sizes)
        return ExperimentData(
            train=WorldObjects(UPDATE_CATEGORIES, per_class=self.train_per_class, stream=STREAMS["train"], **update),
            test=WorldObjects(UPDATE_CATEGORIES, per_class=self.test_per_class, stream=STREAMS["test"], **update),
            class_names=UPDATE_CATEGORIES,
            templates=UPDATE_TEMPLATES,
            zeroshot=dict(zip(ZEROSHOT_SETS, (shapes, colours))),
            retrieval=dict(zip(RETRIEVAL_SETS, (scenes,))),
            retrieval_folds={name: 1 for name in RETRIEVAL_SETS},
            train_transform=train_transform,
            eval_transform=evaluation,
        )


def load(
    *,
    update: UpdateVariant = "whole",
    train_mask: TrainMask = "current",
    weights: str | None = None,
    device: str | torch.device = "cpu",
    **data_options: Any,
) -> LoadedWorld:
    """The pretrained world CLIP and the protocol's data on the world, with no download.

    ``model, data = world.load()``. Build the benchmarks with ``mst_benchmark(data.train,
    data.test, data.class_names, n_sessions=4, train_transform=data.train_transform,
    eval_transform=data.eval_transform)`` (or ``ost_benchmark``).

    Args:
        update, train_mask, weights, device: as in :func:`load_model`.
        data_options: fields of :class:`WorldData` (``seed``, ``train_per_class``, ...).
    """
    return LoadedWorld(load_model(update=update, train_mask=train_mask, weights=weights, device=device),
                       WorldData(**data_options).build())


__all__ = ["LoadedWorld", "RETRIEVAL_SETS", "STREAMS", "WorldData", "ZEROSHOT_SETS", "load", "load_model",
           "world_classifier"]
