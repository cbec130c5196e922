"""Cross-entropy with label smoothing over the classes a training step scores.

ZSCL trains MTIL with label smoothing 0.2 over the current dataset's classes. Here a model may
mask some training logits to ``-inf`` (``train_mask``); PyTorch's ``label_smoothing`` would put
smoothing mass on those classes and make every loss infinite, so the smoothing spreads over the
classes whose logits are finite. With no masked logit this is PyTorch's formula exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_fraction


def smoothed_cross_entropy(logits: Tensor, targets: Tensor, smoothing: float) -> Tensor:
    """Mean over the batch of ``(1 - smoothing) * -log p[target] + smoothing * mean_k(-log p[k])``.

    Args:
        logits: ``[B, C]`` class logits; ``-inf`` marks a class left out (not smoothed into).
        targets: ``[B]`` class ids.
        smoothing: the probability mass spread uniformly over the finite classes, in ``[0, 1)``.
    """
    log_probs = torch.log_softmax(logits.float(), dim=1)  # [B, C]
    kept = torch.isfinite(logits)  # [B, C]
    target_term = -log_probs.gather(1, targets[:, None].long())[:, 0]  # [B]
    uniform_term = -torch.where(kept, log_probs, 0.0).sum(1) / kept.sum(1)  # [B]
    return ((1 - smoothing) * target_term + smoothing * uniform_term).mean()


class SmoothedCrossEntropy(nn.Module):
    """The classification loss with label smoothing (:func:`smoothed_cross_entropy`), as a criterion.

    Args:
        smoothing: the probability mass spread over the scored classes (ZSCL's MTIL: 0.2).
    """

    def __init__(self, smoothing: float):
        super().__init__()
        self.smoothing = check_fraction("smoothing", smoothing)

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return smoothed_cross_entropy(logits, targets, self.smoothing)


__all__ = ["SmoothedCrossEntropy", "smoothed_cross_entropy"]
