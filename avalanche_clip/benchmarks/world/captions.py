"""Captions of world scenes: every template that truthfully describes a scene, filled in.

A caption names only attributes the scene was drawn with (category, colour, size, grid place,
relation between two objects, number of objects). Single-object scenes have eleven templates,
several-object scenes describe every object. ``scene_captions`` lists the distinct captions of a
scene; the pretraining corpus draws one per step, the retrieval sets keep five.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .concepts import RELATIONS
from .scenes import Scene, SceneObject, relation

Template = Callable[..., str]


def _a(word: str) -> str:
    """``word`` with its indefinite article: "a star", "an arrow"."""
    return f"{'an' if word[0] in 'aeiou' else 'a'} {word}"


_ONE: tuple[Template, ...] = (
    lambda o: f"{_a(o.size)} {o.colour} {o.category} {o.region.phrase}",
    lambda o: f"{_a(o.colour)} {o.category} {o.region.phrase}",
    lambda o: f"{_a(o.size)} {o.category} {o.region.phrase}",
    lambda o: f"{_a(o.size)} {o.colour} {o.category}",
    lambda o: f"{_a(o.colour)} {o.category}",
    lambda o: f"a photo of {_a(o.colour)} {o.category}",
    lambda o: f"a photo of {_a(o.category)}",
    lambda o: f"there is {_a(o.category)} {o.region.phrase}",
    lambda o: f"{_a(o.category)} in the scene",
    lambda o: f"{_a(o.colour)} object {o.region.phrase}",
    lambda o: f"something {o.colour} {o.region.phrase}",
)
"""Templates of a one-object scene."""

_TWO: tuple[Template, ...] = (
    lambda a, b: f"{_a(a.size)} {a.colour} {a.category} and {_a(b.size)} {b.colour} {b.category}",
    lambda a, b: f"{_a(a.colour)} {a.category} {a.region.phrase} and {_a(b.colour)} {b.category} {b.region.phrase}",
    lambda a, b: f"{_a(a.colour)} {a.category} and {_a(b.colour)} {b.category}",
    lambda a, b: f"two objects : {_a(a.category)} and {_a(b.category)}",
    lambda a, b: f"{_a(b.category)} and {_a(a.category)} in the scene",
)
"""Templates of a two-object scene (``a``, ``b`` in caption order)."""

_RELATED: tuple[Template, ...] = (
    lambda a, b, r: f"{_a(a.colour)} {a.category} {r} {_a(b.colour)} {b.category}",
    lambda a, b, r: f"{_a(a.category)} {r} {_a(b.category)}",
    lambda a, b, r: f"{_a(b.colour)} {b.category} {RELATIONS[r]} {_a(a.colour)} {a.category}",
)
"""Templates of a two-object scene whose objects stand in a clear relation ``r``."""

_THREE: tuple[Template, ...] = (
    lambda a, b, c: f"three objects : {_a(a.category)} , {_a(b.category)} and {_a(c.category)}",
    lambda a, b, c: f"{_a(a.colour)} {a.category} , {_a(b.colour)} {b.category} and {_a(c.colour)} {c.category}",
    lambda a, b, c: f"{_a(a.size)} {a.category} , {_a(b.size)} {b.category} and {_a(c.size)} {c.category}",
    lambda a, b, c: (f"{_a(a.colour)} {a.category} {a.region.phrase} , {_a(b.colour)} {b.category} "
                     f"{b.region.phrase} and {_a(c.colour)} {c.category} {c.region.phrase}"),
    lambda a, b, c: f"{_a(c.colour)} {c.category} , {_a(a.colour)} {a.category} and {_a(b.colour)} {b.category}",
)
"""Templates of a three-object scene."""


def scene_captions(scene: Scene) -> list[str]:
    """Every distinct caption of ``scene``, in template order.

    Raises:
        ValueError: for a scene with no object or more than three.
    """
    objects: tuple[SceneObject, ...] = scene.objects
    if len(objects) == 1:
        texts = [template(objects[0]) for template in _ONE]
    elif len(objects) == 2:
        texts = [template(*objects) for template in _TWO]
        related = relation(*objects)
        if related is not None:
            texts += [template(*objects, related) for template in _RELATED]
    elif len(objects) == 3:
        texts = [template(*objects) for template in _THREE]
    else:
        raise ValueError(f"Scenes have 1 to 3 objects; this one has {len(objects)}.")
    return list(dict.fromkeys(texts))


def sample_captions(scene: Scene, rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct captions of ``scene`` drawn without replacement.

    Raises:
        ValueError: when the scene has fewer than ``count`` distinct captions.
    """
    texts = scene_captions(scene)
    if count > len(texts):
        raise ValueError(f"count={count} but this scene has only {len(texts)} distinct captions.")
    return [texts[i] for i in sorted(rng.choice(len(texts), size=count, replace=False))]


__all__ = ["sample_captions", "scene_captions"]
