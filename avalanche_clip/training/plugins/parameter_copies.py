"""Copies of a model's trained parameters, for the methods that keep or write whole weight sets.

WiSE-FT keeps the original weights and writes an interpolation; ZSCL keeps a running average and
writes it. Both write in place under ``torch.no_grad`` (``param.copy_``), which bumps each
tensor's version, so :class:`~avalanche_clip.models.CLIPClassifier` sees the change and
re-encodes its cached prompts; and both keep CPU copies in their ``state_dict``.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor, nn


def snapshot(params: Mapping[str, nn.Parameter]) -> dict[str, Tensor]:
    """Detached copies of ``params``, by name, on their device."""
    return {n: p.detach().clone() for n, p in params.items()}


def assign_parameters(params: Mapping[str, nn.Parameter], values: Mapping[str, Tensor]) -> None:
    """Write ``values`` into ``params`` in place (bumping their versions); every name must have a value."""
    missing = sorted(set(params) - set(values))
    if missing:
        raise RuntimeError(f"No value for the trained parameters {missing[:5]}: parameters began training after "
                           "their copy was taken (a model surgery in the middle of a run?).")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(values[name])


def to_device(tensors: Mapping[str, Tensor] | None, params: Mapping[str, nn.Parameter]) -> dict[str, Tensor] | None:
    """``tensors`` on the devices of the same-named ``params`` (None stays None)."""
    if tensors is None:
        return None
    return {n: t.to(params[n].device) if n in params else t for n, t in tensors.items()}


def to_cpu(tensors: Mapping[str, Tensor] | None) -> dict[str, Tensor] | None:
    """Detached CPU copies of ``tensors`` (None stays None), for a ``state_dict``."""
    return None if tensors is None else {n: t.detach().cpu() for n, t in tensors.items()}


__all__ = ["assign_parameters", "snapshot", "to_cpu", "to_device"]
