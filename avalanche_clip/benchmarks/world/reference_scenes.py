"""The world's reference set for ZSCL: scenes and captions of its pretraining distribution.

ZSCL distils the original CLIP on data like its pretraining data (the paper: ImageNet images,
Conceptual Captions). On the world that is the pretraining corpus' distribution itself, rendered
on a stream no other set uses, so the reference scenes are disjoint from the update task, the
zero-shot sets and the retrieval set, and nothing is downloaded.
"""

from __future__ import annotations

from typing import Any, Callable

from ..datasets.reference_data import ReferenceSet
from .image_sets import WorldCaptions
from .load import STREAMS

REFERENCE_SCENES = 256
"""Default number of reference scenes (five captions each)."""


def world_reference_set(size: int = REFERENCE_SCENES, *, seed: int = 0,
                        transform: Callable[[Any], Any] | None = None) -> ReferenceSet:
    """``size`` scenes of the pretraining distribution as images, and their five captions each as texts.

    Args:
        size: the number of scenes.
        seed: the world seed.
        transform: applied to each PIL image (give the model's evaluation transform).
    """
    scenes = WorldCaptions(size, seed=seed, stream=STREAMS["reference"], transform=transform)
    return ReferenceSet(images=scenes, captions=tuple(scenes.captions))


__all__ = ["REFERENCE_SCENES", "world_reference_set"]
