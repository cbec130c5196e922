"""The world's labelled and captioned image sets, rendered once at construction.

:class:`WorldObjects` is a labelled set of one-object scenes: labelled by category it is the
update task (the analog of COCO object crops) or the held-out-category zero-shot set; labelled by
colour it is the colour zero-shot set. :class:`WorldCaptions` holds scenes with five captions
each, for retrieval. Both follow torchvision's dataset shape (``transform``, ``classes``,
``targets``) and satisfy :class:`~avalanche_clip.benchmarks.datasets.ZeroShotDataset` /
:class:`~avalanche_clip.benchmarks.datasets.RetrievalDataset`.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ..._checks import check_choice, check_class_names, check_positive_int, check_templates
from .captions import sample_captions
from .concepts import CATEGORIES, COLOURS
from .crops import crop_object
from .scenes import Scene, render_scene, sample_corpus_scene, sample_scene, scene_rng

Label = Literal["category", "colour"]
View = Literal["scene", "crop"]

CAPTIONS_PER_SCENE = 5
"""Captions kept per retrieval scene, as in COCO and Flickr30K."""


class RenderedImages(Dataset):
    """Labelled images rendered up front: ``images`` ``[N, H, W, 3]`` uint8, ``targets``, ``transform``.

    A subclass renders them in its ``__init__`` and says what it holds in ``extra_repr``.
    """

    images: np.ndarray
    targets: list[int]
    transform: Callable | None

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = Image.fromarray(self.images[index])
        return (self.transform(image) if self.transform else image), self.targets[index]

    def extra_repr(self) -> str:
        return f"samples={len(self)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


class WorldObjects(RenderedImages):
    """Objects labelled by category or colour, ``per_class`` per class, as scenes or as crops.

    In the ``"scene"`` view each image is a one-object scene on a cluttered background. In the
    ``"crop"`` view (the update task, the analog of COCO crops) the labelled object shares its
    scene with one or two objects of ``distractors`` and the image is a crop around it, resized
    (see :mod:`.crops`). The attributes that are not the label (colour or category, size, place)
    are drawn at random; ``scenes[i].objects[0]`` is the labelled object. ``dataset[i]`` is
    ``(image, label)``: a PIL image, or ``transform(image)`` when a transform is given.

    Args:
        classes: the label names: categories (``label="category"``) or colours.
        per_class: scenes per class.
        seed: the world seed.
        stream: the stream id that keeps this set's scenes apart from every other set's.
        label: what the label is, ``"category"`` or ``"colour"``.
        categories: for ``label="colour"``, the categories objects are drawn from (default all).
        view: ``"scene"`` (the whole one-object scene) or ``"crop"`` (a crop around the
            labelled object among distractors).
        distractors: for the ``"crop"`` view, the categories the other objects are drawn from
            (never the labelled object's own).
        templates: prompt templates for zero-shot use (each with one ``{}``), or empty.
        image_size: the side of the images in pixels.
        transform: applied to each PIL image.
    """

    def __init__(
        self,
        classes: Sequence[str],
        *,
        per_class: int,
        seed: int,
        stream: int,
        label: Label = "category",
        categories: Sequence[str] = CATEGORIES,
        view: View = "scene",
        distractors: Sequence[str] = CATEGORIES,
        templates: Sequence[str] = (),
        image_size: int = 64,
        transform: Callable[[Image.Image], Any] | None = None,
    ):
        check_choice("label", label, ("category", "colour"))
        check_choice("view", view, ("scene", "crop"))
        self.classes: tuple[str, ...] = check_class_names(classes)
        known = CATEGORIES if label == "category" else tuple(COLOURS)
        unknown = [c for c in self.classes if c not in known]
        if unknown:
            raise ValueError(f"classes {unknown} are not world {label}s. Available: {', '.join(known)}.")
        check_positive_int("per_class", per_class)
        self.templates: tuple[str, ...] = check_templates(templates) if templates else ()
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.label = label
        self.view = view
        self.transform = transform
        self.targets: list[int] = [c for c in range(len(self.classes)) for _ in range(per_class)]
        self.scenes: list[Scene] = []
        images = []
        for index, target in enumerate(self.targets):
            rng = scene_rng(seed, stream, index)
            name = self.classes[target]
            category = name if label == "category" else categories[rng.integers(len(categories))]
            colours = None if label == "category" else [name]
            objects = [category]
            if view == "crop":
                others = [c for c in distractors if c != category]
                objects += [others[i] for i in rng.choice(len(others), size=int(rng.integers(1, 3)), replace=False)]
            scene = sample_scene(rng, objects, image_size=image_size, colours=colours)
            image = render_scene(scene)
            images.append(crop_object(image, scene.objects[0], rng) if view == "crop" else image)
            self.scenes.append(scene)
        self.images = np.stack(images)  # [N, H, W, 3]

    def extra_repr(self) -> str:
        return f"label={self.label}, view={self.view}, classes={len(self.classes)}, samples={len(self)}"


class WorldCaptions(Dataset):
    """Scenes of the pretraining distribution with five distinct captions each, for retrieval.

    ``dataset[i]`` is image ``i`` (PIL, or ``transform(image)``); ``captions`` is flat, five per
    image in image order, and ``caption_to_image[j]`` is the image of caption ``j``.

    Args:
        size: number of scenes.
        seed: the world seed.
        stream: the stream id that keeps these scenes apart from every other set's.
        image_size: the side of the images in pixels.
        transform: applied to each PIL image.
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int,
        stream: int,
        image_size: int = 64,
        transform: Callable[[Image.Image], Any] | None = None,
    ):
        check_positive_int("size", size)
        self.transform = transform
        self.scenes: list[Scene] = []
        self.captions: list[str] = []
        self.caption_to_image: list[int] = []
        for index in range(size):
            rng = scene_rng(seed, stream, index)
            scene = sample_corpus_scene(rng, image_size)
            self.scenes.append(scene)
            self.captions += sample_captions(scene, rng, CAPTIONS_PER_SCENE)
            self.caption_to_image += [index] * CAPTIONS_PER_SCENE
        self.images = np.stack([render_scene(scene) for scene in self.scenes])  # [N, H, W, 3]

    def __len__(self) -> int:
        return len(self.scenes)

    def __getitem__(self, index: int) -> Any:
        image = Image.fromarray(self.images[index])
        return self.transform(image) if self.transform else image

    def extra_repr(self) -> str:
        return f"images={len(self)}, captions={len(self.captions)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"


__all__ = ["CAPTIONS_PER_SCENE", "Label", "RenderedImages", "View", "WorldCaptions", "WorldObjects"]
