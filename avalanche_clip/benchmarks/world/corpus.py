"""The pretraining corpus: an endless, seeded stream of captioned world scenes.

Example ``i`` is rebuilt from ``(seed, i)`` alone (see :func:`~.scenes.scene_rng`), so a run
resumed at step ``k`` sees exactly the examples an uninterrupted run would, and two runs with the
same seed see the same corpus.
"""

from __future__ import annotations

import numpy as np

from .captions import scene_captions
from .concepts import CATEGORIES
from .scenes import Scene, render_scene, sample_scene, scene_rng

CORPUS_STREAM = 0
"""The stream id of the pretraining corpus; the evaluation sets use other streams."""

OBJECT_COUNTS: dict[int, float] = {1: 0.5, 2: 0.35, 3: 0.15}
"""How many objects a corpus scene has, with their probabilities."""


def sample_corpus_scene(rng: np.random.Generator, image_size: int = 64) -> Scene:
    """A scene of 1 to 3 objects of distinct categories (any of the world's)."""
    counts = list(OBJECT_COUNTS)
    count = counts[rng.choice(len(counts), p=list(OBJECT_COUNTS.values()))]
    categories = [CATEGORIES[i] for i in rng.choice(len(CATEGORIES), size=count, replace=False)]
    return sample_scene(rng, categories, image_size=image_size)


def corpus_example(seed: int, index: int, image_size: int = 64) -> tuple[np.ndarray, str]:
    """Example ``index`` of the corpus: its image ``uint8 [H, W, 3]`` and one of its captions."""
    rng = scene_rng(seed, CORPUS_STREAM, index)
    scene = sample_corpus_scene(rng, image_size)
    captions = scene_captions(scene)
    return render_scene(scene), captions[rng.integers(len(captions))]


def corpus_batch(seed: int, start: int, count: int, image_size: int = 64) -> tuple[np.ndarray, list[str]]:
    """Examples ``start .. start + count - 1``: images ``uint8 [N, H, W, 3]`` and captions."""
    examples = [corpus_example(seed, i, image_size) for i in range(start, start + count)]
    return np.stack([image for image, _ in examples]), [caption for _, caption in examples]


__all__ = ["CORPUS_STREAM", "OBJECT_COUNTS", "corpus_batch", "corpus_example", "sample_corpus_scene"]
