"""How each object category is drawn: a few filled primitives in unit coordinates.

A shape is a tuple of primitives in the square ``[-1, 1]^2`` (y pointing down). Each primitive
either adds to the object's mask (``fill=True``) or cuts a hole in it (``fill=False``), so rings
and frames show the cluttered background through them. The shapes differ in coarse structure
(filled or hollow, compact or elongated, one part or several) so that a tiny model can tell them
apart at 64 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from PIL import ImageDraw


@dataclass(frozen=True)
class Primitive:
    """A polygon, ellipse or rectangle in unit coordinates.

    Attributes:
        kind: ``"polygon"`` (``points`` are its vertices), ``"ellipse"`` or ``"rectangle"``
            (``points`` are two corners).
        points: ``(x, y)`` pairs in ``[-1, 1]``.
        fill: True adds to the mask, False cuts a hole.
    """

    kind: Literal["polygon", "ellipse", "rectangle"]
    points: tuple[tuple[float, float], ...]
    fill: bool = True


def _poly(*points: tuple[float, float], fill: bool = True) -> Primitive:
    return Primitive("polygon", tuple(points), fill)


def _ellipse(x0: float, y0: float, x1: float, y1: float, fill: bool = True) -> Primitive:
    return Primitive("ellipse", ((x0, y0), (x1, y1)), fill)


def _rect(x0: float, y0: float, x1: float, y1: float, fill: bool = True) -> Primitive:
    return Primitive("rectangle", ((x0, y0), (x1, y1)), fill)


def _regular(n: int, radius: float = 1.0, phase: float = -math.pi / 2) -> Primitive:
    return _poly(*((radius * math.cos(phase + 2 * math.pi * k / n), radius * math.sin(phase + 2 * math.pi * k / n))
                   for k in range(n)))


def _star(points: int, outer: float, inner: float) -> Primitive:
    vertices = []
    for k in range(2 * points):
        radius, angle = (outer if k % 2 == 0 else inner), -math.pi / 2 + math.pi * k / points
        vertices.append((radius * math.cos(angle), radius * math.sin(angle)))
    return _poly(*vertices)


def _sun_rays(n: int = 8) -> tuple[Primitive, ...]:
    rays = []
    for k in range(n):
        angle, half = 2 * math.pi * k / n, math.pi / n * 0.45
        tip = (math.cos(angle), math.sin(angle))
        left = (0.5 * math.cos(angle - half), 0.5 * math.sin(angle - half))
        right = (0.5 * math.cos(angle + half), 0.5 * math.sin(angle + half))
        rays.append(_poly(left, tip, right))
    return tuple(rays)


def _petals(n: int = 5) -> tuple[Primitive, ...]:
    petals = []
    for k in range(n):
        angle = -math.pi / 2 + 2 * math.pi * k / n
        cx, cy = 0.55 * math.cos(angle), 0.55 * math.sin(angle)
        petals.append(_ellipse(cx - 0.42, cy - 0.42, cx + 0.42, cy + 0.42))
    return tuple(petals) + (_ellipse(-0.22, -0.22, 0.22, 0.22, fill=False),)


SHAPES: dict[str, tuple[Primitive, ...]] = {
    "circle": (_ellipse(-1, -1, 1, 1),),
    "square": (_rect(-0.85, -0.85, 0.85, 0.85),),
    "triangle": (_poly((0, -1), (1, 0.85), (-1, 0.85)),),
    "diamond": (_poly((0, -1), (0.7, 0), (0, 1), (-0.7, 0)),),
    "hexagon": (_regular(6, phase=0.0),),
    "frame": (_rect(-0.9, -0.9, 0.9, 0.9), _rect(-0.5, -0.5, 0.5, 0.5, fill=False)),
    "cross": (_rect(-0.3, -1, 0.3, 1), _rect(-1, -0.3, 1, 0.3)),
    "bar": (_rect(-1, -0.32, 1, 0.32),),
    "pillar": (_rect(-0.32, -1, 0.32, 1),),
    "dome": (Primitive("polygon", tuple((math.cos(math.pi + math.pi * k / 16),
                                         0.5 + 1.3 * math.sin(math.pi + math.pi * k / 16))
                                        for k in range(17))),),
    "tree": (_poly((0, -1), (0.8, 0.35), (-0.8, 0.35)), _rect(-0.2, 0.35, 0.2, 1)),
    "flower": _petals(),
    "sun": (_ellipse(-0.45, -0.45, 0.45, 0.45),) + _sun_rays(),
    "drop": (_ellipse(-0.65, -0.3, 0.65, 1), _poly((0, -1), (0.62, 0.45), (-0.62, 0.45))),
    "arch": (_rect(-0.9, -0.9, 0.9, 0.9), _rect(-0.45, -0.3, 0.45, 0.9, fill=False)),
    "bolt": (_poly((0.2, -1), (-0.7, 0.15), (-0.05, 0.15), (-0.3, 1), (0.7, -0.2), (0.05, -0.2)),),
    "star": (_star(5, 1.0, 0.42),),
    "ring": (_ellipse(-1, -1, 1, 1), _ellipse(-0.55, -0.55, 0.55, 0.55, fill=False)),
    "heart": (_ellipse(-1, -0.85, 0.05, 0.2), _ellipse(-0.05, -0.85, 1, 0.2),
              _poly((-0.98, -0.15), (0.98, -0.15), (0, 1))),
    "arrow": (_rect(-1, -0.2, 0.15, 0.2), _poly((0.05, -0.75), (1, 0), (0.05, 0.75))),
    "moon": (_ellipse(-1, -1, 1, 1), _ellipse(-0.35, -1.05, 1.35, 0.65, fill=False)),
    "house": (_rect(-0.7, -0.1, 0.7, 1), _poly((0, -1), (1, -0.1), (-1, -0.1)), _rect(-0.18, 0.4, 0.18, 1, fill=False)),
    "bowtie": (_poly((-1, -0.75), (0, 0), (-1, 0.75)), _poly((1, -0.75), (0, 0), (1, 0.75))),
    "tee": (_rect(-1, -1, 1, -0.45), _rect(-0.28, -0.45, 0.28, 1)),
}
"""The primitives of every category in :data:`~.concepts.CATEGORIES`."""

def draw_shape(mask: ImageDraw.ImageDraw, category: str, center: tuple[float, float], radius: float) -> None:
    """Draw ``category`` into a mask (``"L"`` image): 255 inside the object, 0 in its holes.

    Args:
        mask: a drawing context on the object's mask.
        category: one of :data:`SHAPES`.
        center: the object's centre in pixels ``(x, y)``.
        radius: the half-extent of the object in pixels.
    """
    cx, cy = center
    for primitive in SHAPES[category]:
        points = [(cx + radius * x, cy + radius * y) for x, y in primitive.points]
        value = 255 if primitive.fill else 0
        if primitive.kind == "polygon":
            mask.polygon(points, fill=value)
        elif primitive.kind == "ellipse":
            mask.ellipse(points, fill=value)
        else:
            mask.rectangle(points, fill=value)


__all__ = ["Primitive", "SHAPES", "draw_shape"]
