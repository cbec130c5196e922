"""Object crops: the update task's view of a scene, as COCO crops are of COCO images.

The paper's update data are COCO instance boxes cropped out of cluttered photos and resized to
the model's input: the object fills the frame, blurred by the upscaling, with whatever context
and neighbours the box holds, in the look of another camera than the web images CLIP learned
from. :func:`crop_object` does the same to a world scene: a square box around one object, with a
random margin, resized to the image size and faded to ``CONTRAST``. The pretrained model has
seen objects only at scene scale and full contrast, so the crops are a shifted domain: zero-shot
it classifies them far above chance but far from perfectly, and fine-tuning has something to
learn (as CLIP on COCO crops).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from .scenes import SceneObject

MARGIN = (1.1, 1.6)
"""Range of the crop's half-side as a multiple of the object's half-extent."""

CONTRAST = 0.5
"""Contrast of the crops relative to the scene (pixels are pulled halfway to the crop's mean)."""


def crop_object(image: np.ndarray, obj: SceneObject, rng: np.random.Generator) -> np.ndarray:
    """A square crop around ``obj`` with a random margin, resized back to the image's side.

    Args:
        image: the rendered scene, ``uint8 [H, W, 3]``.
        obj: the object to crop (one of the scene's).
        rng: draws the margin.

    Returns:
        The crop, ``uint8 [H, W, 3]`` (bicubic resize; kept inside the image by shifting; faded
        to ``CONTRAST`` around its mean).
    """
    size = image.shape[0]
    half = min(obj.radius * rng.uniform(*MARGIN), size / 2)
    left = float(np.clip(obj.center[0] - half, 0, size - 2 * half))
    top = float(np.clip(obj.center[1] - half, 0, size - 2 * half))
    box = (left, top, left + 2 * half, top + 2 * half)
    crop = np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC, box=box), np.float32)
    faded = crop.mean() + CONTRAST * (crop - crop.mean())
    return np.clip(np.rint(faded), 0, 255).astype(np.uint8)


__all__ = ["MARGIN", "crop_object"]
