"""Building OpenCLIP models by name, with weights from a tag or a local file.

Any name ``open_clip.list_models()`` knows works, plus the configs shipped in
``avalanche_clip/models/model_configs`` (``list_model_configs()``), which are registered with
OpenCLIP the first time a model is built.
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from typing import Any

import torch
from torch import nn

from .._checks import check_name


def _configs_dir():
    return resources.files("avalanche_clip.models") / "model_configs"


def list_model_configs() -> list[str]:
    """Names of the model configs that ship with avalanche-clip (e.g. ``"tiny-clip"``)."""
    return sorted(p.name[: -len(".json")] for p in _configs_dir().iterdir() if p.name.endswith(".json"))


@cache
def register_model_configs() -> None:
    """Make the shipped configs known to OpenCLIP (once per process)."""
    import open_clip

    open_clip.add_model_config(str(_configs_dir()))


def _check_model_name(name: str) -> None:
    import open_clip

    if name.startswith(("hf-hub:", "local-dir:")):
        return
    check_name("OpenCLIP model", name.replace("/", "-"), open_clip.list_models())


def _resolve_weights(name: str, pretrained: str | None) -> None:
    """Refuse a ``pretrained`` that is neither a local file nor a tag of ``name``."""
    import open_clip

    if pretrained is None or os.path.isfile(pretrained):
        return
    tags = open_clip.list_pretrained_tags_by_model(name.replace("/", "-"))
    if not open_clip.is_pretrained_cfg(name.replace("/", "-"), pretrained):
        raise FileNotFoundError(
            f"pretrained={pretrained!r} is neither a file nor a pretrained tag of {name!r}. "
            f"Tags of {name!r}: {', '.join(tags) or 'none'}; or pass the path of a checkpoint file."
        )


def create_clip(
    name: str,
    pretrained: str | None = None,
    *,
    device: str | torch.device = "cpu",
    cache_dir: str | None = None,
) -> tuple[nn.Module, Any, dict]:
    """Build an OpenCLIP model, its tokenizer and its preprocessing config.

    Args:
        name: an OpenCLIP model name (``"ViT-B-32"``), a shipped config (``"tiny-clip"``), or an
            ``hf-hub:``/``local-dir:`` identifier.
        pretrained: None for random weights, an OpenCLIP tag (``"openai"``), or the path of a
            checkpoint file (an OpenCLIP state dict, as ``torch.save(clip.state_dict())`` writes).
        device: where to put the model.
        cache_dir: where OpenCLIP caches downloaded weights.

    Returns:
        ``(clip, tokenizer, preprocess_cfg)``; ``preprocess_cfg`` has ``size``, ``mean``, ``std``.
    """
    import open_clip

    register_model_configs()
    _check_model_name(name)
    _resolve_weights(name, pretrained)
    try:
        clip = open_clip.create_model(name, pretrained=pretrained, device=device, cache_dir=cache_dir)
    except RuntimeError as error:
        if pretrained is not None and not os.path.isfile(pretrained):
            raise RuntimeError(
                f"Could not fetch the weights of {name!r} pretrained={pretrained!r}: {error}. "
                f"Without internet access, download the file elsewhere (URL: "
                f"{open_clip.get_pretrained_url(name, pretrained) or 'see the Hugging Face hub entry'}) "
                "and pass its path as pretrained='/path/to/file'."
            ) from error
        raise
    tokenizer = open_clip.get_tokenizer(name)
    return clip, tokenizer, open_clip.get_model_preprocess_cfg(clip)


__all__ = ["create_clip", "list_model_configs", "register_model_configs"]
