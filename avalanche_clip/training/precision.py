"""Mixed precision: which autocast dtype a device gets, and whether fp16 needs a GradScaler."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Literal, get_args

import torch

from .._checks import check_choice

Precision = Literal["auto", "fp32", "bf16", "fp16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(precision: Precision, device: torch.device) -> Literal["fp32", "bf16", "fp16"]:
    """``"auto"`` is bf16 on a GPU that supports it and fp32 elsewhere (CPU autocast is slow)."""
    check_choice("precision", precision, PRECISIONS)
    if precision != "auto":
        return precision
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


def autocast(precision: str, device: torch.device) -> AbstractContextManager:
    """The autocast context of a resolved precision (disabled for fp32)."""
    return torch.autocast(device.type, dtype=_DTYPES.get(precision), enabled=precision in _DTYPES)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled only for fp16 (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=precision == "fp16")


__all__ = ["PRECISIONS", "Precision", "autocast", "grad_scaler", "resolve_precision"]
