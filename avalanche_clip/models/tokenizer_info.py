"""What the methods need to know about a tokenizer, read once from any OpenCLIP tokenizer.

VR-LwF draws random "ordinary" token ids, and prompt encoding warns about truncation; both need
the vocabulary size and the special ids, which OpenCLIP's tokenizers expose under different names.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenizerInfo:
    """Vocabulary facts of a tokenizer.

    Attributes:
        vocab_size: number of token ids (ids are ``0 .. vocab_size - 1``).
        special_ids: ids that are not ordinary vocabulary (start, end, and any others).
        sot_id: start-of-text id, or None when the tokenizer has none.
        eot_id: end-of-text id (the text feature is read there).
        context_length: the length every tokenized text is padded or truncated to.
    """

    vocab_size: int
    special_ids: tuple[int, ...]
    sot_id: int | None
    eot_id: int
    context_length: int

    def ordinary_ids(self) -> torch.Tensor:
        """All ids that are not special tokens, as a 1-D LongTensor."""
        keep = torch.ones(self.vocab_size, dtype=torch.bool)
        keep[list(self.special_ids)] = False
        return keep.nonzero().squeeze(1)


def describe_tokenizer(tokenizer: Any) -> TokenizerInfo:
    """Read a :class:`TokenizerInfo` from an OpenCLIP ``SimpleTokenizer`` or ``HFTokenizer``."""
    if hasattr(tokenizer, "sot_token_id") and hasattr(tokenizer, "vocab_size"):
        return TokenizerInfo(
            vocab_size=int(tokenizer.vocab_size),
            special_ids=tuple(int(i) for i in tokenizer.all_special_ids),
            sot_id=int(tokenizer.sot_token_id),
            eot_id=int(tokenizer.eot_token_id),
            context_length=int(tokenizer.context_length),
        )
    hf = getattr(tokenizer, "tokenizer", None)
    if hf is not None and hasattr(hf, "all_special_ids"):
        eot = hf.eos_token_id if hf.eos_token_id is not None else hf.sep_token_id
        sot = hf.bos_token_id if hf.bos_token_id is not None else hf.cls_token_id
        if eot is None:
            raise TypeError(f"Tokenizer {type(hf).__name__} has neither an eos nor a sep token.")
        return TokenizerInfo(
            vocab_size=int(len(hf)),
            special_ids=tuple(sorted(set(int(i) for i in hf.all_special_ids))),
            sot_id=None if sot is None else int(sot),
            eot_id=int(eot),
            context_length=int(tokenizer.context_length),
        )
    raise TypeError(
        f"Cannot read the vocabulary of a {type(tokenizer).__name__}: expected an OpenCLIP "
        "SimpleTokenizer (vocab_size, all_special_ids, sot_token_id, eot_token_id) or an "
        "HFTokenizer wrapping a Hugging Face tokenizer."
    )


def tokenize(tokenizer: Callable[[Sequence[str]], torch.Tensor], texts: Sequence[str]) -> torch.Tensor:
    """Tokenize ``texts`` to ``[N, context_length]`` ids, logging once how many were truncated."""
    tokens = tokenizer(list(texts))
    encode = getattr(tokenizer, "encode", None)
    context_length = getattr(tokenizer, "context_length", tokens.shape[1])
    if encode is not None:
        # start and end tokens take two of the context's positions
        truncated = sum(len(encode(t)) + 2 > context_length for t in texts)
        if truncated:
            logger.warning(
                "%d of %d texts are longer than the context length %d and were truncated.",
                truncated, len(texts), context_length,
            )
    return tokens


__all__ = ["TokenizerInfo", "describe_tokenizer", "tokenize"]
