"""The world's multi-domain sequence: MTIL on the embedded world, five domains with their own vocabularies.

MTIL learns a sequence of classification datasets, each with its own class names and prompts, and
measures before each is learned how well the model classifies it zero-shot. The world's domains
ask what its captions taught (categories, colours, sizes, places), each in its own rendering so
that the pretrained model transfers clearly but not perfectly (40-90 % top-1 on each):

- ``world-faded-colours``: the 8 colours, the whole scene faded towards grey.
- ``world-noisy-shapes``: the 16 update categories under heavy pixel noise.
- ``world-places``: objects at the top, on the left, on the right or at the bottom.
- ``world-sizes``: small, medium or large objects (sizes are relative to the image).
- ``world-crops``: the 8 held-out categories in faded crops among neighbours (as the update task).

The default order puts first the domains whose fine-tuning costs the others most (colours, then
noisy shapes), so that plain fine-tuning visibly loses the transfer a continual method must keep.

Every image is rebuilt from ``(seed, stream, index)`` alone; each domain's splits have streams of
their own, apart from every other set of the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Sequence

import numpy as np
from PIL import Image

from ..._checks import check_choice, check_name, check_positive_int
from ..mtil import MTILData, MTILSource
from ..datasets.mtil_contract import MTILTask
from .concepts import CATEGORIES, COLOURS, HELD_OUT_CATEGORIES, SIZES, UPDATE_CATEGORIES
from .crops import crop_object
from .image_sets import RenderedImages
from .load import WorldData
from .scenes import Scene, SceneObject, render_scene, sample_scene, scene_rng

Split = Literal["train", "test"]

FADED_CONTRAST = 0.23
"""Contrast of ``world-faded-colours`` images (pixels pulled towards the image's mean)."""

NOISE_STD = 36.0
"""Standard deviation (grey levels) of the pixel noise of ``world-noisy-shapes``."""

PLACES: tuple[str, ...] = ("at the top", "on the left", "on the right", "at the bottom")
"""The places of ``world-places``: the four edge cells of the grid, by their caption phrase."""

SceneSampler = Callable[[np.random.Generator, str, int], Scene]
Style = Callable[[np.ndarray, Scene, np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class WorldDomain:
    """How one domain's images are drawn and labelled.

    Attributes:
        name: the task's name in reports.
        classes: the class names, as written into the prompts.
        templates: the domain's prompt templates.
        streams: the scene streams of the train and test splits.
        scene: ``scene(rng, class_name, image_size)``, a scene whose first object has the class.
        style: ``style(image, scene, rng)``, the rendered scene as the domain shows it.
    """

    name: str
    classes: tuple[str, ...]
    templates: tuple[str, ...]
    streams: tuple[int, int]
    scene: SceneSampler
    style: Style


def _one_object(rng: np.random.Generator, image_size: int, colours: Sequence[str] | None = None) -> Scene:
    """A one-object scene of any category."""
    return sample_scene(rng, [CATEGORIES[rng.integers(len(CATEGORIES))]], image_size=image_size, colours=colours)


def _redraw_until(rng: np.random.Generator, image_size: int, keep: Callable[[SceneObject], bool]) -> Scene:
    """The first one-object scene whose object satisfies ``keep`` (a seeded rejection, so deterministic)."""
    scene = _one_object(rng, image_size)
    while not keep(scene.objects[0]):
        scene = _one_object(rng, image_size)
    return scene


def _among_neighbours(rng: np.random.Generator, category: str, image_size: int) -> Scene:
    """An object of ``category`` first, then one or two other held-out categories."""
    others = [c for c in HELD_OUT_CATEGORIES if c != category]
    neighbours = [others[i] for i in rng.choice(len(others), size=int(rng.integers(1, 3)), replace=False)]
    return sample_scene(rng, [category, *neighbours], image_size=image_size)


def _fade(image: np.ndarray, contrast: float) -> np.ndarray:
    """Pixels pulled towards the image's mean, keeping ``contrast`` of their deviation."""
    pixels = image.astype(np.float32)
    return np.clip(np.rint(pixels.mean() + contrast * (pixels - pixels.mean())), 0, 255).astype(np.uint8)


def _noisy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian pixel noise of ``NOISE_STD`` grey levels."""
    return np.clip(np.rint(image + rng.normal(0, NOISE_STD, image.shape)), 0, 255).astype(np.uint8)


DOMAINS: tuple[WorldDomain, ...] = (
    WorldDomain(
        "world-faded-colours", tuple(COLOURS), ("a {} object .", "something {} in the scene ."), (202, 203),
        scene=lambda rng, colour, size: _one_object(rng, size, colours=[colour]),
        style=lambda image, scene, rng: _fade(image, FADED_CONTRAST),
    ),
    WorldDomain(
        "world-noisy-shapes", UPDATE_CATEGORIES, ("a photo of a {} .", "a {} in the scene ."), (208, 209),
        scene=lambda rng, category, size: sample_scene(rng, [category], image_size=size),
        style=lambda image, scene, rng: _noisy(image, rng),
    ),
    WorldDomain(
        "world-places", PLACES, tuple(f"something {colour} {{}} ." for colour in COLOURS), (206, 207),
        scene=lambda rng, phrase, size: _redraw_until(rng, size, lambda obj: obj.region.phrase == phrase),
        style=lambda image, scene, rng: image,
    ),
    WorldDomain(
        "world-sizes", tuple(SIZES), ("a {} object .", "something {} ."), (204, 205),
        scene=lambda rng, name, size: _redraw_until(rng, size, lambda obj: obj.size == name),
        style=lambda image, scene, rng: image,
    ),
    WorldDomain(
        "world-crops", HELD_OUT_CATEGORIES, ("a photo of a {} .", "there is a {} in the scene ."), (200, 201),
        scene=_among_neighbours,
        style=lambda image, scene, rng: crop_object(image, scene.objects[0], rng),
    ),
)
"""The world's domains, in their default MTIL order."""

DOMAIN_NAMES: tuple[str, ...] = tuple(domain.name for domain in DOMAINS)
"""The domains' names, in their default order."""


class WorldDomainImages(RenderedImages):
    """One split of a world domain: ``per_class`` images per class, rendered at construction.

    ``dataset[i]`` is ``(image, label)``: a PIL image, or ``transform(image)`` when a transform is
    given; ``scenes[i]`` is the scene drawn (its first object carries the label).

    Args:
        domain: the domain's name, one of :data:`DOMAIN_NAMES`.
        split: ``"train"`` or ``"test"`` (each has its own stream of scenes).
        per_class: images per class.
        seed: the world seed.
        image_size: the side of the images in pixels.
        transform: applied to each PIL image.
    """

    def __init__(
        self,
        domain: str,
        *,
        split: Split,
        per_class: int,
        seed: int = 0,
        image_size: int = 64,
        transform: Callable[[Image.Image], Any] | None = None,
    ):
        spec = DOMAINS[DOMAIN_NAMES.index(check_name("world domain", domain, DOMAIN_NAMES))]
        stream = spec.streams[("train", "test").index(check_choice("split", split, ("train", "test")))]
        check_positive_int("per_class", per_class)
        self.domain, self.split = domain, split
        self.classes: tuple[str, ...] = spec.classes
        self.templates: tuple[str, ...] = spec.templates
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.transform = transform
        self.targets: list[int] = [c for c in range(len(self.classes)) for _ in range(per_class)]
        self.scenes: list[Scene] = []
        images = []
        for index, target in enumerate(self.targets):
            rng = scene_rng(seed, stream, index)
            scene = spec.scene(rng, self.classes[target], image_size)
            images.append(spec.style(render_scene(scene), scene, rng))
            self.scenes.append(scene)
        self.images = np.stack(images)  # [N, H, W, 3]

    def extra_repr(self) -> str:
        return f"domain={self.domain}, split={self.split}, classes={len(self.classes)}, samples={len(self)}"


def world_mtil_tasks(
    *,
    seed: int = 0,
    train_per_class: int = 30,
    test_per_class: int = 20,
    domains: Sequence[str] = DOMAIN_NAMES,
    image_size: int = 64,
) -> list[MTILTask]:
    """The world's MTIL sequence: one :class:`MTILTask` per domain, in the order of ``domains``.

    Images are untransformed PIL images (apply ``world_train_transform`` / ``world_eval_transform``).

    Args:
        seed: the world seed every image is rendered from.
        train_per_class: training images per class of each domain.
        test_per_class: test images per class of each domain.
        domains: the domains to learn, by name and in order (default: all of :data:`DOMAIN_NAMES`).
        image_size: the side of the images in pixels (the shipped model's is 64).
    """
    tasks = []
    for name in domains:
        sets = {split: WorldDomainImages(name, split=split, per_class=per_class, seed=seed, image_size=image_size)
                for split, per_class in (("train", train_per_class), ("test", test_per_class))}
        tasks.append(MTILTask(name, sets["train"], sets["test"], sets["test"].classes, sets["test"].templates))
    return tasks


@dataclass(frozen=True)
class WorldDomains(MTILSource):
    """The world's MTIL sequence (``--data.class_path avalanche_clip.benchmarks.world.WorldDomains``).

    Beside the domains, the world's zero-shot sets and retrieval set of :class:`WorldData` are
    measured, so a run reports their forgetting too.
    """

    seed: int = 0
    """The world seed every image is rendered from (independent of the run's seed)."""
    train_per_class: int = 30
    """Training images per class of each domain."""
    test_per_class: int = 20
    """Test images per class of each domain."""
    domains: tuple[str, ...] = DOMAIN_NAMES
    """The domains, by name, in their default order (``--protocol.task_order`` reorders them)."""
    zeroshot_per_class: int = 25
    """Images per class of the world's zero-shot sets."""
    retrieval_size: int = 500
    """Scenes of the world's retrieval set."""

    def task_names(self) -> tuple[str, ...]:
        return self.domains

    def build(self, model: Any = None) -> MTILData:
        """The domains and the world's evaluation sets; the world model needs no ``model`` to build them."""
        world = WorldData(seed=self.seed, train_per_class=1, test_per_class=1,
                          zeroshot_per_class=self.zeroshot_per_class, retrieval_size=self.retrieval_size).build()
        tasks = world_mtil_tasks(seed=self.seed, train_per_class=self.train_per_class,
                                 test_per_class=self.test_per_class, domains=self.domains)
        return MTILData(tasks=tuple(tasks), zeroshot=world.zeroshot, retrieval=world.retrieval,
                        retrieval_folds=world.retrieval_folds, train_transform=world.train_transform,
                        eval_transform=world.eval_transform)


__all__ = [
    "DOMAINS",
    "DOMAIN_NAMES",
    "FADED_CONTRAST",
    "NOISE_STD",
    "PLACES",
    "Split",
    "WorldDomain",
    "WorldDomainImages",
    "WorldDomains",
    "world_mtil_tasks",
]
