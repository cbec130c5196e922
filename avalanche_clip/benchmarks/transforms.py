"""The image transforms of the protocol (PROTOCOL.md section 2), for any CLIP input size.

Train: Resize(size * 256/224, bicubic) -> RandomCrop(size) -> RandomHorizontalFlip -> normalise.
Test: Resize(size, bicubic) -> CenterCrop(size) -> normalise.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from PIL import Image
from torchvision import transforms as T

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def _to_rgb(image: Image.Image) -> Image.Image:
    return image.convert("RGB")


def clip_train_transform(
    image_size: int = 224, mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD
) -> Callable[[Image.Image], Any]:
    """The training transform for PIL images, with random crop and flip."""
    return T.Compose([
        T.Lambda(_to_rgb),
        T.Resize(round(image_size * 256 / 224), interpolation=T.InterpolationMode.BICUBIC),
        T.RandomCrop(image_size),
        T.RandomHorizontalFlip(),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def clip_eval_transform(
    image_size: int = 224, mean: Sequence[float] = OPENAI_MEAN, std: Sequence[float] = OPENAI_STD
) -> Callable[[Image.Image], Any]:
    """The deterministic test transform for PIL images."""
    return T.Compose([
        T.Lambda(_to_rgb),
        T.Resize(image_size, interpolation=T.InterpolationMode.BICUBIC),
        T.CenterCrop(image_size),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def clip_transforms(model: Any) -> tuple[Callable, Callable]:
    """``(train, eval)`` transforms at a :class:`~avalanche_clip.models.CLIPClassifier`'s input size."""
    size, mean, std = model.image_size, model.image_mean, model.image_std
    return clip_train_transform(size, mean, std), clip_eval_transform(size, mean, std)


__all__ = ["OPENAI_MEAN", "OPENAI_STD", "clip_eval_transform", "clip_train_transform", "clip_transforms"]
