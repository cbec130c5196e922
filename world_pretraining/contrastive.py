"""The pretraining loss: symmetric InfoNCE where identical captions are all positives.

Short captions repeat within a batch ("a photo of a star" comes up several times in 128 scenes).
Plain InfoNCE would push apart the images of two stars as if their identical captions were
negatives; here every image whose caption is identical to caption ``j`` counts as a positive of
it, with the target mass split evenly among them (as in the soft targets of SupCon and UniCL).
With all captions distinct this is exactly OpenCLIP's ``ClipLoss``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def caption_contrastive_loss(image: Tensor, text: Tensor, logit_scale: Tensor, caption_ids: Tensor) -> Tensor:
    """Symmetric InfoNCE over a batch of image-caption pairs, identical captions as positives.

    Args:
        image: normalised image features ``[B, D]``.
        text: normalised caption features ``[B, D]`` (row ``i`` describes image ``i``).
        logit_scale: ``exp`` of the log scale, a scalar tensor.
        caption_ids: ``[B]`` ids with ``caption_ids[i] == caption_ids[j]`` iff the captions are equal.

    Returns:
        The mean of the image-to-text and text-to-image soft cross-entropies, a scalar.
    """
    logits = logit_scale * image @ text.T  # [B, B], rows: images, columns: captions
    same = (caption_ids[:, None] == caption_ids[None, :]).to(logits.dtype)  # [B, B], symmetric
    targets = same / same.sum(dim=1, keepdim=True)
    image_to_text = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()
    text_to_image = -(targets * F.log_softmax(logits.T, dim=1)).sum(dim=1).mean()
    return (image_to_text + text_to_image) / 2


def caption_ids(captions: list[str]) -> torch.Tensor:
    """``[B]`` ids equal exactly where the captions are equal."""
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(caption, len(index)) for caption in captions])


__all__ = ["caption_contrastive_loss", "caption_ids"]
