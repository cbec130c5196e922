"""A classifier vocabulary: class names, prompt templates and their tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from .._checks import check_class_names, check_templates
from .tokenizer_info import tokenize

DEFAULT_TEMPLATES: tuple[str, ...] = ("this is a photo of {} in the scene .",)
"""The prompt of the update classes (PROTOCOL.md section 2)."""


@dataclass(frozen=True, eq=False)
class PromptVocabulary:
    """The prompts of every class: ``tokens[c, t]`` is class ``c`` written into template ``t``.

    Class ``c``'s text feature is the normalised mean of its normalised template features
    (CLIP's prompt ensembling; with one template, simply its normalised feature).
    """

    class_names: tuple[str, ...]
    templates: tuple[str, ...]
    tokens: torch.Tensor  # [C, T, L]

    @classmethod
    def build(cls, class_names: Sequence[str], templates: Sequence[str], tokenizer: Any) -> "PromptVocabulary":
        names = check_class_names(class_names)
        templates = check_templates(templates)
        texts = [t.format(name) for name in names for t in templates]
        tokens = tokenize(tokenizer, texts).view(len(names), len(templates), -1)
        return cls(names, templates, tokens)

    def __len__(self) -> int:
        return len(self.class_names)

    def describes(self, class_names: Sequence[str], templates: Sequence[str]) -> bool:
        """Whether this vocabulary was built from these names and templates."""
        return self.class_names == tuple(class_names) and self.templates == tuple(templates)


__all__ = ["DEFAULT_TEMPLATES", "PromptVocabulary"]
