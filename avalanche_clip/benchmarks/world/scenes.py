"""Scenes of the embedded world: what they contain, how they are sampled, how they are drawn.

A :class:`Scene` is a plain description (objects with category, colour, size, place; a
background seed), sampled from a ``numpy.random.Generator`` and rendered deterministically from
that description alone. Scene ``i`` of a stream comes from its own generator seeded with
``(seed, stream, i)``, so any scene of any set can be rebuilt on its own, in any order: the
pretraining corpus resumes mid-way without saving a data state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .concepts import CATEGORIES, COLOURS, REGIONS, SIZES, Region
from .shapes import draw_shape

_SIZE_JITTER = 0.06  # relative jitter of an object's half-extent
_COLOUR_JITTER = 18  # per-channel jitter of an object's RGB
_NOISE_STD = 6.0  # pixel noise over the whole image

OBJECT_COUNTS: dict[int, float] = {1: 0.5, 2: 0.35, 3: 0.15}
"""How many objects a scene of the pretraining distribution has, with their probabilities."""


@dataclass(frozen=True)
class SceneObject:
    """One object of a scene.

    Attributes:
        category: its category (a key of :data:`~.shapes.SHAPES`).
        colour: its colour name (a key of :data:`~.concepts.COLOURS`).
        size: its size name (a key of :data:`~.concepts.SIZES`).
        region: the grid cell its centre lies in.
        center: its centre in pixels ``(x, y)``.
        radius: its half-extent in pixels.
        rgb: the colour actually drawn (the named colour, jittered).
    """

    category: str
    colour: str
    size: str
    region: Region
    center: tuple[float, float]
    radius: float
    rgb: tuple[int, int, int]


@dataclass(frozen=True)
class Scene:
    """A scene: its objects (in caption order), its side in pixels and its background seed."""

    objects: tuple[SceneObject, ...]
    image_size: int
    background_seed: int


def scene_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of scene ``index`` of stream ``stream`` of world ``seed``."""
    return np.random.default_rng([seed, stream, index])


def relation(a: SceneObject, b: SceneObject) -> str | None:
    """Where ``a`` is with respect to ``b``: a key of :data:`~.concepts.RELATIONS`.

    Defined by grid cells: the axis along which the cells differ more decides; None when the
    cells are as far apart along both axes (a caption then states no relation).
    """
    rows, columns = b.region.row - a.region.row, b.region.column - a.region.column
    if abs(rows) > abs(columns):
        return "above" if rows > 0 else "below"
    if abs(columns) > abs(rows):
        return "to the left of" if columns > 0 else "to the right of"
    return None


def _place(rng: np.random.Generator, region: Region, radius: float, image_size: int) -> tuple[float, float]:
    """A centre inside ``region``'s cell that keeps the whole object inside the image."""
    cell = image_size / 3
    center = []
    for index in (region.column, region.row):
        low, high = max(index * cell, radius + 1), min((index + 1) * cell, image_size - radius - 1)
        center.append(float(rng.uniform(low, high)) if high > low else (low + high) / 2)
    return center[0], center[1]


def _apart(center: tuple[float, float], radius: float, other: tuple[float, float], other_radius: float) -> bool:
    """Whether two objects' bounding squares do not overlap."""
    gap = max(abs(center[0] - other[0]), abs(center[1] - other[1]))
    return gap >= radius + other_radius


def _place_all(
    rng: np.random.Generator, categories: Sequence[str], image_size: int, max_tries: int
) -> list[tuple[str, Region, tuple[float, float], float]] | None:
    """Size, cell, centre and radius of each object, none overlapping; None if one did not fit."""
    size_names = list(SIZES)
    placed: list[tuple[str, Region, tuple[float, float], float]] = []
    free = list(range(len(REGIONS)))
    for _ in categories:
        for _ in range(max_tries):
            size = size_names[rng.integers(len(size_names))]
            region = REGIONS[free[rng.integers(len(free))]]
            radius = float(SIZES[size] * image_size * (1 + rng.uniform(-_SIZE_JITTER, _SIZE_JITTER)))
            center = _place(rng, region, radius, image_size)
            if all(_apart(center, radius, other_center, other_radius) for _, _, other_center, other_radius in placed):
                break
        else:
            return None
        free.remove(REGIONS.index(region))
        placed.append((size, region, center, radius))
    return placed


def sample_scene(
    rng: np.random.Generator,
    categories: Sequence[str],
    *,
    image_size: int = 64,
    colours: Sequence[str] | None = None,
    max_tries: int = 50,
) -> Scene:
    """Sample a scene whose objects have ``categories`` (one object each, in this order).

    Each object gets a random colour (from ``colours``, default all), size and free grid cell;
    objects never overlap (a layout is redrawn until they fit).

    Args:
        rng: the scene's generator.
        categories: the category of each object.
        image_size: the side of the square image in pixels.
        colours: the colours to draw from; default every colour.
        max_tries: placements tried per object, and layouts tried per scene, before giving up
            with a RuntimeError.
    """
    colour_names = list(colours if colours is not None else COLOURS)
    for _ in range(max_tries):
        placed = _place_all(rng, categories, image_size, max_tries)
        if placed is not None:
            break
    else:
        raise RuntimeError(f"Could not place {len(categories)} objects in a {image_size}px scene.")
    objects = []
    for category, (size, region, center, radius) in zip(categories, placed):
        colour = colour_names[rng.integers(len(colour_names))]
        rgb = np.clip(np.array(COLOURS[colour]) + rng.integers(-_COLOUR_JITTER, _COLOUR_JITTER + 1, 3), 0, 255)
        objects.append(SceneObject(category, colour, size, region, center, radius, tuple(int(v) for v in rgb)))
    return Scene(tuple(objects), image_size, int(rng.integers(2**31)))


def sample_corpus_scene(rng: np.random.Generator, image_size: int = 64) -> Scene:
    """A scene of the pretraining distribution: 1 to 3 objects of distinct categories (any of the world's)."""
    counts = list(OBJECT_COUNTS)
    count = counts[rng.choice(len(counts), p=list(OBJECT_COUNTS.values()))]
    categories = [CATEGORIES[i] for i in rng.choice(len(CATEGORIES), size=count, replace=False)]
    return sample_scene(rng, categories, image_size=image_size)


def _background(rng: np.random.Generator, size: int) -> Image.Image:
    """A greyish, low-saturation cluttered background: strokes and outlines over a tinted base."""
    grey = rng.uniform(70, 185)
    base = tuple(int(v) for v in np.clip(grey + rng.uniform(-12, 12, 3), 0, 255))
    image = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(image)

    def clutter_colour() -> tuple[int, ...]:
        level = grey + rng.uniform(-60, 60)
        return tuple(int(v) for v in np.clip(level + rng.uniform(-10, 10, 3), 0, 255))

    for _ in range(int(rng.integers(4, 10))):
        x0, y0, x1, y1 = rng.uniform(-4, size + 4, 4)
        draw.line([(x0, y0), (x1, y1)], fill=clutter_colour(), width=int(rng.integers(1, 3)))
    for _ in range(int(rng.integers(2, 6))):
        x, y = rng.uniform(0, size, 2)
        w, h = rng.uniform(3, size / 4, 2)
        box = [(x - w, y - h), (x + w, y + h)]
        if rng.random() < 0.5:
            draw.ellipse(box, outline=clutter_colour())
        else:
            draw.rectangle(box, outline=clutter_colour())
    return image


def render_scene(scene: Scene) -> np.ndarray:
    """The scene's image as ``uint8`` ``[H, W, 3]``: background, then each object, then noise."""
    rng = np.random.default_rng(scene.background_seed)
    image = _background(rng, scene.image_size)
    for obj in scene.objects:
        mask = Image.new("L", image.size, 0)
        draw_shape(ImageDraw.Draw(mask), obj.category, obj.center, obj.radius)
        image.paste(obj.rgb, mask=mask)
    pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, _NOISE_STD, (scene.image_size, scene.image_size, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


__all__ = [
    "OBJECT_COUNTS",
    "Scene",
    "SceneObject",
    "relation",
    "render_scene",
    "sample_corpus_scene",
    "sample_scene",
    "scene_rng",
]
