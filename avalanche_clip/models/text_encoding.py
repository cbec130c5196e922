"""Text encoding trimmed to the real length of the texts.

CLIP's text transformer is causal and reads the text feature at the end-of-text token, so
nothing after that token can change the feature. Prompts are ~15 tokens and VR-LwF's pseudo
sentences 10, not the 77 of the context: running the transformer on the first
``max(eot position) + 1`` positions gives the same features for a fraction of the cost.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def _text_parts(clip: nn.Module) -> tuple[Any, str, int | None] | None:
    """The module holding the text transformer, its pooling and end id; None if not trimmable.

    Trimming is exact only for a causal transformer without padding mask or class token that
    pools at the end-of-text token: OpenCLIP's ``CLIP`` and ``TextTransformer`` (inside
    ``CustomTextCLIP``) with ``argmax`` or ``eos`` pooling.
    """
    text = getattr(clip, "text", None)
    if text is not None and hasattr(text, "token_embedding"):
        if getattr(text, "cls_emb", None) is not None or getattr(text, "use_pad_mask", False):
            return None
        owner, pool, eos = text, getattr(text, "pool_type", None), getattr(text, "eos_id", None)
    elif hasattr(clip, "token_embedding") and hasattr(clip, "transformer"):
        owner, pool, eos = clip, getattr(clip, "text_pool_type", None), getattr(clip, "text_eos_id", None)
    else:
        return None
    if pool not in ("argmax", "eos") or getattr(owner, "attn_mask", None) is None:
        return None
    if pool == "eos" and eos is None:
        return None
    return owner, pool, eos


def eot_positions(tokens: torch.Tensor, pool: str = "argmax", eos_id: int | None = None) -> torch.Tensor:
    """Index of the token each text's feature is read at, ``[N]``."""
    if pool == "eos":
        return (tokens == eos_id).int().argmax(dim=-1)
    return tokens.argmax(dim=-1)


def can_trim(clip: nn.Module) -> bool:
    """Whether :func:`encode_text` computes ``clip``'s text features on trimmed sequences."""
    return _text_parts(clip) is not None


def text_lengths(clip: nn.Module, tokens: torch.Tensor, *, trim: bool = True) -> torch.Tensor:
    """The positions :func:`encode_text` runs each text on, ``[N]``: its end token's index + 1.

    The full context length for every text without ``trim`` or when ``clip`` cannot be trimmed.
    Batching texts of similar lengths together (sort by this) makes trimmed batches shorter.
    """
    parts = _text_parts(clip) if trim else None
    if parts is None:
        return torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long, device=tokens.device)
    _, pool, eos_id = parts
    return eot_positions(tokens, pool, eos_id).long() + 1


def encode_text(clip: nn.Module, tokens: torch.Tensor, *, trim: bool = True) -> torch.Tensor:
    """Text features ``[N, D]`` (not normalised) of ``tokens`` ``[N, L]``.

    With ``trim`` (and a model where it is exact, see :func:`can_trim`), the transformer runs
    on the first ``max(eot position) + 1`` positions only; otherwise this is
    ``clip.encode_text(tokens)``.
    """
    parts = _text_parts(clip) if trim else None
    if parts is None:
        return clip.encode_text(tokens)
    owner, pool, eos_id = parts
    positions = eot_positions(tokens, pool, eos_id)  # [N]
    length = int(positions.max()) + 1
    tokens = tokens[:, :length]

    cast_dtype = owner.transformer.get_cast_dtype()
    x = owner.token_embedding(tokens).to(cast_dtype)  # [N, L', W]
    x = x + owner.positional_embedding[:length].to(cast_dtype)
    x = owner.transformer(x, attn_mask=owner.attn_mask[:length, :length])
    x = owner.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), positions]  # [N, W]
    projection = owner.text_projection
    if projection is None:
        return x
    if isinstance(projection, nn.Linear):
        return projection(x)
    return x @ projection


def normalized(features: torch.Tensor) -> torch.Tensor:
    """L2-normalise features along the last dimension."""
    return F.normalize(features, dim=-1)


def encode_prompts(clip: nn.Module, tokens: torch.Tensor, *, trim: bool = True) -> torch.Tensor:
    """Class features ``[C, D]`` from prompt tokens ``[C, T, L]``: template-ensembled, normalised.

    Class ``c``'s feature is the normalised mean of its ``T`` normalised template features;
    ``trim`` as in :func:`encode_text`.
    """
    classes, n_templates, length = tokens.shape
    features = normalized(encode_text(clip, tokens.reshape(classes * n_templates, length), trim=trim))  # [C*T, D]
    return normalized(features.view(classes, n_templates, -1).mean(dim=1))


__all__ = ["can_trim", "encode_prompts", "encode_text", "eot_positions", "normalized", "text_lengths"]
