"""The world model's architecture and its shipped weights, verified by checksum.

The architecture is an OpenCLIP ``CLIP`` built from ``world-clip.json``: a ViT on 64 px scenes
whose 8 px patch embedding is a small convolutional stem (see :mod:`.stem`), and a small text
transformer over the world tokenizer's vocabulary. The weights
ship as an fp16 state dict with a ``.sha256`` file beside it; :func:`load_world_clip` refuses a
file whose checksum differs, so a truncated or corrupted download fails loudly, not as noise.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ..._atomic import atomic_write_bytes
from ..._checksums import checksum_path, file_sha256, recorded_sha256, write_checksum
from .stem import install_conv_stem

CONFIG_FILE = "world-clip.json"
"""The shipped architecture config, inside this package."""

WEIGHTS_FILE = "world_clip.pt"
"""The shipped weights (fp16 state dict), inside this package; the checksum is ``WEIGHTS_FILE.sha256``."""

IMAGE_MEAN = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD = (0.26862954, 0.26130258, 0.27577711)


def _package_file(name: str) -> Path:
    return Path(str(resources.files("avalanche_clip.benchmarks.world") / name))


def shipped_weights_path() -> Path:
    """The path of the shipped weights file."""
    return _package_file(WEIGHTS_FILE)


def world_clip_config() -> dict:
    """The world model's OpenCLIP config (``embed_dim``, ``vision_cfg``, ``text_cfg``)."""
    return json.loads(_package_file(CONFIG_FILE).read_text())


def build_world_clip(config: dict | None = None) -> nn.Module:
    """A randomly initialised OpenCLIP ``CLIP`` of the world's architecture (or of ``config``).

    ``config`` is an OpenCLIP model config plus an optional ``conv_stem`` (hidden channel
    counts): the ViT's patch embedding is then a :class:`~.stem.ConvStem`.
    """
    from open_clip.model import CLIP

    config = dict(world_clip_config() if config is None else config)
    stem = config.pop("conv_stem", None)
    clip = CLIP(**config)
    if stem is not None:
        install_conv_stem(clip.visual, stem)
    return clip


def save_weights(clip: nn.Module, path: str | os.PathLike) -> str:
    """Write ``clip``'s state dict in fp16 to ``path`` and its SHA-256 to ``path.sha256``.

    Both files are written atomically (temporary file, then ``os.replace``). Returns the digest.
    """
    path = Path(path)
    state = {name: value.detach().to("cpu", torch.float16 if value.is_floating_point() else value.dtype)
             for name, value in clip.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    digest = hashlib.sha256(buffer.getvalue()).hexdigest()
    atomic_write_bytes(path, buffer.getvalue())
    write_checksum(path, digest)
    return digest


def load_weights(clip: nn.Module, path: str | os.PathLike | None = None) -> nn.Module:
    """Load verified weights into ``clip`` (in its own dtype); default: the shipped file.

    Raises:
        FileNotFoundError: the weights or their ``.sha256`` file are missing.
        RuntimeError: the file's SHA-256 differs from the recorded one (corrupted or replaced).
    """
    path = Path(path) if path is not None else shipped_weights_path()
    checksum = checksum_path(path)
    for needed in (path, checksum):
        if not needed.is_file():
            raise FileNotFoundError(
                f"{needed} is missing. The world model's weights and checksum ship with "
                "avalanche-clip; reinstall it, or rebuild them with "
                "python -m world_pretraining (from a clone of the repository)."
            )
    expected = recorded_sha256(path)
    actual = file_sha256(path)
    if actual != expected:
        raise RuntimeError(
            f"Checksum mismatch for {path}: SHA-256 {actual}, expected {expected} (from {checksum}). "
            "The weights file is corrupted or was replaced; reinstall avalanche-clip or rebuild it "
            "with python -m world_pretraining (from a clone of the repository)."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    clip.load_state_dict(state)
    return clip


__all__ = [
    "CONFIG_FILE",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "WEIGHTS_FILE",
    "build_world_clip",
    "load_weights",
    "save_weights",
    "shipped_weights_path",
    "world_clip_config",
]
