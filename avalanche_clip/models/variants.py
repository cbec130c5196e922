"""The update variants of the protocol: which part of CLIP trains (PROTOCOL.md section 5).

``whole`` (WM) trains everything; ``image`` (IO) the image tower; ``text`` (TO) the text tower.
The logit scale (and bias, for models that have one) trains in all three.
"""

from __future__ import annotations

from typing import Iterator, Literal, get_args

from torch import nn

from .._checks import check_choice

UpdateVariant = Literal["whole", "image", "text"]
UPDATE_VARIANTS: tuple[str, ...] = get_args(UpdateVariant)

_SCALE_NAMES = ("logit_scale", "logit_bias")


def tower_of(parameter_name: str) -> Literal["image", "text", "scale"]:
    """Which part of an OpenCLIP model a parameter (named as in ``clip.named_parameters``) is in."""
    if parameter_name in _SCALE_NAMES:
        return "scale"
    if parameter_name.startswith("visual."):
        return "image"
    return "text"


def tower_parameters(clip: nn.Module, tower: Literal["image", "text", "scale"]) -> Iterator[nn.Parameter]:
    """The parameters of one part of the model, found by name at call time."""
    return (p for n, p in clip.named_parameters() if tower_of(n) == tower)


def apply_update_variant(clip: nn.Module, update: UpdateVariant) -> None:
    """Set ``requires_grad`` so that exactly the parameters of ``update`` train."""
    check_choice("update", update, UPDATE_VARIANTS)
    trained = {"whole": {"image", "text", "scale"}, "image": {"image", "scale"},
               "text": {"text", "scale"}}[update]
    for name, param in clip.named_parameters():
        param.requires_grad_(tower_of(name) in trained)


__all__ = ["UPDATE_VARIANTS", "UpdateVariant", "apply_update_variant", "tower_of", "tower_parameters"]
