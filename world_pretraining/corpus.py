"""The pretraining corpus: an endless, seeded stream of captioned world scenes.

Example ``i`` is rebuilt from ``(seed, i)`` alone (see
:func:`~avalanche_clip.benchmarks.world.scenes.scene_rng`), so a run resumed at step ``k`` sees
exactly the examples an uninterrupted run would, and two runs with the same seed see the same
corpus. Its scenes follow the world's pretraining distribution
(:func:`~avalanche_clip.benchmarks.world.scenes.sample_corpus_scene`), as the world's retrieval
sets do.
"""

from __future__ import annotations

import numpy as np

from avalanche_clip.benchmarks.world.captions import scene_captions
from avalanche_clip.benchmarks.world.scenes import render_scene, sample_corpus_scene, scene_rng

CORPUS_STREAM = 0
"""The stream id of the pretraining corpus; the evaluation sets use other streams."""


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


__all__ = ["CORPUS_STREAM", "corpus_batch", "corpus_example"]
