"""Image transforms that suit the world's 64 px scenes.

The protocol's transforms (``clip_transforms``) resize by 256/224 and flip horizontally. In the
world a flip changes what an image shows: an arrow points the other way, a moon and a bolt are
mirrored, "on the left" becomes "on the right". The world's training transform therefore only
shifts the image by up to 4 px (a random crop of the edge-padded image), and the evaluation
transform only converts and normalises.
"""

from __future__ import annotations

from typing import Any, Callable

from PIL import Image
from torchvision import transforms as T

from .weights import IMAGE_MEAN, IMAGE_STD

TRAIN_SHIFT = 4
"""Largest shift (pixels) of the training transform."""


def world_train_transform(image_size: int = 64) -> Callable[[Image.Image], Any]:
    """Random shift by up to ``TRAIN_SHIFT`` px, then tensor and CLIP normalisation."""
    return T.Compose([
        T.RandomCrop(image_size, padding=TRAIN_SHIFT, padding_mode="edge"),
        T.ToTensor(),
        T.Normalize(IMAGE_MEAN, IMAGE_STD),
    ])


def world_eval_transform() -> Callable[[Image.Image], Any]:
    """Tensor and CLIP normalisation."""
    return T.Compose([T.ToTensor(), T.Normalize(IMAGE_MEAN, IMAGE_STD)])


def world_transforms(image_size: int = 64) -> tuple[Callable, Callable]:
    """``(train, eval)`` transforms for the world's update task."""
    return world_train_transform(image_size), world_eval_transform()


__all__ = ["TRAIN_SHIFT", "world_eval_transform", "world_train_transform", "world_transforms"]
