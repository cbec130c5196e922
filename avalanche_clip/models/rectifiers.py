"""RKR model surgery: low-rank rectifiers on the linear layers of CLIP's residual blocks.

Rectification-based knowledge retention (Singh et al. 2020) as PROTOCOL.md section 6 sets it for
CLIP: the whole model is frozen and every linear layer inside the residual blocks of the updated
tower(s) computes ``y = (W x + b + U D x) ⊙ s`` with trainable ``U``, ``D`` and ``s`` only.
"""

from __future__ import annotations

import math
from typing import Iterable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice, check_positive_int
from .variants import tower_of

Tower = Literal["image", "text"]


class RectifiedLinear(nn.Module):
    """A frozen ``nn.Linear`` with a rank-``r`` rectifier: ``y = (W x + b + U D x) ⊙ s``.

    ``D`` (``down``, ``[r, in]``) starts at zero, ``s`` (``scale``, ``[out]``) at ones, so the
    layer is exactly the base layer at initialisation whatever ``U`` is. ``U`` (``up``,
    ``[out, r]``) is drawn like ``nn.Linear``'s default weight of a ``[out, r]`` layer (uniform in
    ``±1/√r``): were it zero too, ``∂L/∂D = Uᵀ g xᵀ`` and ``∂L/∂U = g (D x)ᵀ`` would both stay zero
    and only ``s`` could ever train.

    Callers that call the layer get the low-rank path above. Callers that read ``weight`` and
    ``bias`` instead (``nn.MultiheadAttention`` hands ``out_proj.weight`` to
    ``F.multi_head_attention_forward`` and never calls ``out_proj``) get the same map folded
    into one matrix: ``weight = s ⊙ (W + U D)``, ``bias = s ⊙ b``.

    Args:
        base: the linear layer to rectify; it is frozen.
        rank: the rank ``r`` of ``U D``.
        generator: draws ``U``.
    """

    def __init__(self, base: nn.Linear, *, rank: int, generator: torch.Generator):
        super().__init__()
        self.base = base.requires_grad_(False)
        out_features, in_features = base.weight.shape
        factory = dict(device=base.weight.device, dtype=base.weight.dtype)
        bound = 1.0 / math.sqrt(rank)
        up = (2 * torch.rand(out_features, rank, generator=generator) - 1) * bound
        self.up = nn.Parameter(up.to(**factory))  # U [out, r]
        self.down = nn.Parameter(torch.zeros(rank, in_features, **factory))  # D [r, in]
        self.scale = nn.Parameter(torch.ones(out_features, **factory))  # s [out]

    @property
    def rank(self) -> int:
        """The rank of the rectifier."""
        return self.down.shape[0]

    @property
    def weight(self) -> Tensor:
        """The rectified weight ``s ⊙ (W + U D)``, ``[out, in]``."""
        return self.scale[:, None] * (self.base.weight + self.up @ self.down)

    @property
    def bias(self) -> Tensor | None:
        """The rectified bias ``s ⊙ b``, ``[out]`` (None when the base layer has none)."""
        return None if self.base.bias is None else self.scale * self.base.bias

    def forward(self, x: Tensor) -> Tensor:
        """``(W x + b + U D x) ⊙ s`` for ``x`` ``[..., in]``, without forming ``U D``."""
        y = self.base(x) + F.linear(F.linear(x, self.down), self.up)  # [..., out]
        return y * self.scale.to(y.dtype)

    def extra_repr(self) -> str:
        return f"rank={self.rank}"


def residual_linears(clip: nn.Module, towers: Iterable[Tower]) -> dict[str, nn.Linear]:
    """The ``nn.Linear`` layers inside the residual blocks of ``towers``, by module name.

    Residual blocks are the entries of OpenCLIP's ``Transformer.resblocks``: the attention
    out-projection and the MLP's ``c_fc`` and ``c_proj`` in each. Raises a ValueError for a
    tower without such blocks (timm or Hugging Face towers).
    """
    towers = [check_choice("tower", tower, ("image", "text")) for tower in towers]
    found: dict[str, nn.Linear] = {}
    for name, module in clip.named_modules():
        blocks = getattr(module, "resblocks", None)
        if not isinstance(blocks, nn.ModuleList) or tower_of(f"{name}.") not in towers:
            continue
        for index, block in enumerate(blocks):
            for inner, layer in block.named_modules():
                if isinstance(layer, nn.Linear):
                    found[f"{name}.resblocks.{index}.{inner}"] = layer
    missing = [t for t in towers if not any(tower_of(n) == t for n in found)]
    if missing:
        raise ValueError(
            f"RKR found no residual blocks with linear layers in the {' and '.join(missing)} "
            f"tower of {type(clip).__name__}: it rectifies OpenCLIP transformer towers "
            "(Transformer.resblocks), not timm or Hugging Face towers."
        )
    return found


def add_rectifiers(clip: nn.Module, towers: Iterable[Tower], *, rank: int = 4, seed: int = 0) -> list[str]:
    """Freeze ``clip`` and rectify every linear layer in the residual blocks of ``towers``.

    Everything, ``logit_scale`` included, stops training; only the new ``up``, ``down`` and
    ``scale`` parameters require grad. The fused query/key/value in-projection of
    ``nn.MultiheadAttention`` (``in_proj_weight``, a bare parameter, not a linear layer) is left
    frozen and unrectified: PROTOCOL.md rectifies the out-projection and the MLP only.

    Args:
        clip: an OpenCLIP model.
        towers: ``"image"`` and/or ``"text"``.
        rank: rank of every rectifier.
        seed: seeds the generator that draws every ``U``.

    Returns:
        The names of the rectified layers.
    """
    check_positive_int("rank", rank)
    if rectifiers(clip):
        raise ValueError(f"{type(clip).__name__} already has rectifiers; RKR surgery happens once.")
    layers = residual_linears(clip, towers)
    clip.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    modules = dict(clip.named_modules())
    for name, layer in layers.items():
        parent, _, attribute = name.rpartition(".")
        setattr(modules[parent], attribute, RectifiedLinear(layer, rank=rank, generator=generator))
    return list(layers)


def rectifiers(clip: nn.Module) -> dict[str, RectifiedLinear]:
    """The rectified layers of ``clip`` by module name (empty before :func:`add_rectifiers`)."""
    return {name: m for name, m in clip.named_modules() if isinstance(m, RectifiedLinear)}


__all__ = ["RectifiedLinear", "Tower", "add_rectifiers", "rectifiers", "residual_linears"]
