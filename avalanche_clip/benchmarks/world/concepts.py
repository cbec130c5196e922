"""The concepts of the embedded world: object categories, colours, sizes and places.

Everything a scene can show and a caption can say is listed here, once. The categories are split
into the update categories (the classes of the update task, the analog of COCO's 80) and the
held-out categories (pretraining teaches them, the update never trains them: the analog of the
paper's held-out zero-shot classes).
"""

from __future__ import annotations

from dataclasses import dataclass

UPDATE_CATEGORIES: tuple[str, ...] = (
    "circle", "square", "triangle", "diamond", "hexagon", "frame", "cross", "bar",
    "pillar", "dome", "tree", "flower", "sun", "drop", "arch", "bolt",
)
"""The update task's classes, in their default session order."""

HELD_OUT_CATEGORIES: tuple[str, ...] = (
    "star", "ring", "heart", "arrow", "moon", "house", "bowtie", "tee",
)
"""Categories pretraining teaches and the update never trains (the zero-shot classes)."""

CATEGORIES: tuple[str, ...] = UPDATE_CATEGORIES + HELD_OUT_CATEGORIES
"""Every object category of the world."""

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 30),
    "green": (40, 175, 60),
    "cyan": (40, 205, 215),
    "blue": (40, 80, 225),
    "purple": (140, 50, 200),
    "pink": (250, 125, 195),
}
"""Colour names and their RGB values (objects jitter around them; backgrounds are greyish)."""

SIZES: dict[str, float] = {"small": 0.13, "medium": 0.18, "large": 0.24}
"""Size names and the object's half-extent as a fraction of the image side."""


@dataclass(frozen=True)
class Region:
    """One cell of the 3 x 3 grid an object's centre falls in, and how captions name it.

    Attributes:
        row: 0 (top) to 2 (bottom).
        column: 0 (left) to 2 (right).
        phrase: the caption phrase, e.g. ``"in the top left corner"``.
    """

    row: int
    column: int
    phrase: str


REGIONS: tuple[Region, ...] = (
    Region(0, 0, "in the top left corner"), Region(0, 1, "at the top"), Region(0, 2, "in the top right corner"),
    Region(1, 0, "on the left"), Region(1, 1, "in the center"), Region(1, 2, "on the right"),
    Region(2, 0, "in the bottom left corner"), Region(2, 1, "at the bottom"),
    Region(2, 2, "in the bottom right corner"),
)
"""The nine places an object can be, row-major."""

RELATIONS: dict[str, str] = {
    "above": "below", "below": "above", "to the left of": "to the right of", "to the right of": "to the left of",
}
"""Spatial relations between two objects and their inverses (``a above b`` = ``b below a``)."""


__all__ = [
    "CATEGORIES",
    "COLOURS",
    "HELD_OUT_CATEGORIES",
    "REGIONS",
    "RELATIONS",
    "Region",
    "SIZES",
    "UPDATE_CATEGORIES",
]
