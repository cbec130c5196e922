"""Building OpenCLIP models by name, with weights from a tag or a local file.

Any name ``open_clip.list_models()`` knows works, plus the configs shipped in
``avalanche_clip/models/model_configs`` (``list_model_configs()``), which are registered with
OpenCLIP the first time a model is built.
"""

from __future__ import annotations

import os
import socket
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


_TRUE = {"1", "ON", "YES", "TRUE"}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def _hf_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE


def _reachable(url_or_host: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the host (port 443) opens within ``timeout`` seconds.

    Behind a proxy the host itself is not contacted: then it is assumed reachable.
    """
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return True
    host = url_or_host.split("://", 1)[-1].split("/", 1)[0]
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _cached_weights(cfg: dict, cache_dir: str | None) -> str | None:
    """The local file of a pretrained config's weights, if a download already cached it."""
    hf_hub = cfg.get("hf_hub", "")
    if hf_hub:
        from huggingface_hub import try_to_load_from_cache
        from open_clip.pretrained import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo_id, filename = os.path.split(hf_hub)
        for name in (HF_SAFE_WEIGHTS_NAME, filename or HF_WEIGHTS_NAME):
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str):
                return found
        return None
    url = cfg.get("url", "")
    target = os.path.join(cache_dir or os.path.expanduser("~/.cache/clip"), os.path.basename(url))
    return target if url and os.path.isfile(target) else None


def check_model_source(name: str, pretrained: str | None = None, *, cache_dir: str | None = None) -> None:
    """Refuse, at once, a model name or pretrained weights that cannot be had.

    Checks that ``name`` is a known model (listing the closest names), that ``pretrained`` is a
    file or a tag of that model, and, for a tag, that its weights are in the local cache or can
    be downloaded: with ``HF_HUB_OFFLINE=1``, or when the download host does not answer within
    a few seconds, a tag not cached fails here instead of after the hub's retries.

    Raises:
        ValueError: unknown model name.
        FileNotFoundError: ``pretrained`` is neither a file nor a tag, or its weights are not
            cached and cannot be downloaded.
    """
    import open_clip

    register_model_configs()
    _check_model_name(name)
    _resolve_weights(name, pretrained)
    if pretrained is None or os.path.isfile(pretrained):
        return
    cfg = open_clip.get_pretrained_cfg(name.replace("/", "-"), pretrained)
    if _cached_weights(cfg, cache_dir) is not None:
        return
    source = f"hf-hub {cfg['hf_hub']}" if cfg.get("hf_hub") else cfg.get("url", "?")
    host = "https://huggingface.co" if cfg.get("hf_hub") else cfg.get("url", "")
    if _hf_offline():
        reason = "HF_HUB_OFFLINE is set"
    elif not _reachable(host):
        reason = f"{host.split('://')[-1].split('/')[0]} cannot be reached (no network?)"
    else:
        return
    raise FileNotFoundError(
        f"The weights of {name!r} pretrained={pretrained!r} are not in the local cache and {reason}. "
        f"Download them where there is a network ({source}) and pass the file's path as pretrained, "
        f"or copy the cache (cache_dir={cache_dir or 'the default'}) to this machine."
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

    check_model_source(name, pretrained, cache_dir=cache_dir)
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


__all__ = ["check_model_source", "create_clip", "list_model_configs", "register_model_configs"]
