"""The world's tokenizer: OpenCLIP's SimpleTokenizer over a small BPE learned from the world.

OpenCLIP's default BPE has 49,408 tokens, whose embedding alone would outweigh the whole tiny
model. The world's merges are learned from every word its captions and prompts can write, until
each such word is a single token; the vocabulary is then the 512 byte tokens, those merges and
the two specials (any other text still tokenizes, byte by byte). The merges ship gzipped in the
package, as OpenCLIP ships its own, and :func:`world_tokenizer` builds the tokenizer from them.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Iterable

from ..._atomic import atomic_write
from .captions import scene_captions
from .concepts import CATEGORIES, COLOURS, REGIONS, RELATIONS, SIZES
from .prompt_templates import PROMPTS
from .scenes import Scene, SceneObject

BPE_FILE = "world_bpe.txt.gz"
"""The shipped merges file, inside this package."""

CONTEXT_LENGTH = 32
"""Tokens per text, start and end included (the longest world caption has 25)."""

_HEADER = "#version: 0.2 (avalanche-clip world)"


def world_texts() -> list[str]:
    """Texts that use every word a world caption or prompt can write.

    Every category, colour, size and place in the one-object templates; every relation and the
    two- and three-object templates; every prompt template of the world's sets.
    """
    texts: list[str] = []

    def one(category: str, colour: str, size: str, region_index: int) -> SceneObject:
        return SceneObject(category, colour, size, REGIONS[region_index], (0.0, 0.0), 1.0, (0, 0, 0))

    for i, category in enumerate(CATEGORIES):
        for j, colour in enumerate(COLOURS):
            for k, size in enumerate(SIZES):
                texts += scene_captions(Scene((one(category, colour, size, (i + j + k) % len(REGIONS)),), 64, 0))
    for region in range(len(REGIONS)):
        texts += scene_captions(Scene((one(CATEGORIES[0], "red", "small", region),), 64, 0))
    # cells (row, column): 4 = centre, 1 = top, 3 = left; every relation occurs among them
    a = one(CATEGORIES[0], "red", "small", 1)
    b = one(CATEGORIES[1], "blue", "large", 4)
    c = one(CATEGORIES[2], "green", "medium", 3)
    texts += scene_captions(Scene((a, b), 64, 0)) + scene_captions(Scene((c, b), 64, 0))
    texts += scene_captions(Scene((a, b, c), 64, 0))
    texts += [" ".join(RELATIONS)]
    texts += [template.format(name) for templates in PROMPTS.values() for template in templates
              for name in (*CATEGORIES, *COLOURS)]
    return texts


def _words(texts: Iterable[str]) -> Counter:
    """The words of ``texts`` as OpenCLIP pre-tokenizes them (lower-cased, split on spaces)."""
    return Counter(word for text in texts for word in text.lower().split())


def learn_bpe_merges(texts: Iterable[str]) -> list[tuple[str, str]]:
    """BPE merges, most frequent pair first, until every word of ``texts`` is one token.

    Words are split into characters with ``</w>`` on the last one, as OpenCLIP's tokenizer does;
    ties are broken by the pair itself, so the result depends only on the texts.
    """
    words = {tuple(word[:-1]) + (word[-1] + "</w>",): count for word, count in _words(texts).items()}
    merges: list[tuple[str, str]] = []
    while True:
        pairs: Counter = Counter()
        for symbols, count in words.items():
            for pair in zip(symbols, symbols[1:]):
                pairs[pair] += count
        if not pairs:
            return merges
        best = min(pairs, key=lambda pair: (-pairs[pair], pair))
        merges.append(best)
        merged = {}
        for symbols, count in words.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            merged[tuple(out)] = count
        words = merged


def write_bpe_file(merges: list[tuple[str, str]], path: str | os.PathLike) -> None:
    """Write ``merges`` as an OpenCLIP BPE file (gzip, header line first), atomically."""
    text = "\n".join([_HEADER] + [f"{a} {b}" for a, b in merges]) + "\n"

    def write(raw) -> None:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
            gz.write(text.encode("utf-8"))

    atomic_write(path, write)


def shipped_bpe_path() -> Path:
    """The path of the shipped merges file."""
    return Path(str(resources.files("avalanche_clip.benchmarks.world") / BPE_FILE))


def world_tokenizer(bpe_path: str | os.PathLike | None = None, *, context_length: int = CONTEXT_LENGTH):
    """An OpenCLIP ``SimpleTokenizer`` over the world's merges (default: the shipped file)."""
    from open_clip.tokenizer import SimpleTokenizer

    path = Path(bpe_path) if bpe_path is not None else shipped_bpe_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"The world's BPE merges file {path} is missing; it ships with avalanche-clip. "
            "Reinstall the package, or rebuild it with python -m world_pretraining (from a clone of the repository)."
        )
    return SimpleTokenizer(bpe_path=str(path), context_length=context_length)


__all__ = [
    "BPE_FILE",
    "CONTEXT_LENGTH",
    "learn_bpe_merges",
    "shipped_bpe_path",
    "world_tokenizer",
    "world_texts",
    "write_bpe_file",
]
