"""A stand-in MTIL source for the tests: three small pseudo-domains of the existing world.

Two groups of the update categories (as crops, the update prompt) and the colours (one-object
scenes, the colour prompts): three tasks with their own class names and templates, rendered from
the world seed on streams the world's other sets do not use. The world's real MTIL domains
replace it outside the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from avalanche_clip.benchmarks import MTILData, MTILSource, MTILTask
from avalanche_clip.benchmarks.world import WorldData
from avalanche_clip.benchmarks.world.concepts import COLOURS, UPDATE_CATEGORIES
from avalanche_clip.benchmarks.world.image_sets import WorldObjects
from avalanche_clip.benchmarks.world.prompt_templates import COLOUR_TEMPLATES, UPDATE_TEMPLATES

DOMAINS = {
    "crops-a": dict(classes=UPDATE_CATEGORIES[:4], view="crop", distractors=UPDATE_CATEGORIES),
    "crops-b": dict(classes=UPDATE_CATEGORIES[4:8], view="crop", distractors=UPDATE_CATEGORIES),
    "colours": dict(classes=tuple(COLOURS)[:4], label="colour"),
}
TEMPLATES = {"crops-a": UPDATE_TEMPLATES, "crops-b": UPDATE_TEMPLATES, "colours": COLOUR_TEMPLATES}


@dataclass(frozen=True)
class PseudoDomains(MTILSource):
    """Three world pseudo-domains of 4 classes each, and the world's zero-shot and retrieval sets."""

    seed: int = 0
    """The world seed."""
    train_per_class: int = 4
    """Training images per class of each task."""
    test_per_class: int = 3
    """Test images per class of each task."""
    zeroshot_per_class: int = 2
    """Images per class of the world's zero-shot sets."""
    retrieval_size: int = 12
    """Scenes of the world's retrieval set."""

    def build(self, model: Any = None) -> MTILData:
        world = WorldData(seed=self.seed, train_per_class=1, test_per_class=1,
                          zeroshot_per_class=self.zeroshot_per_class, retrieval_size=self.retrieval_size).build()
        tasks = []
        for index, (name, spec) in enumerate(DOMAINS.items()):
            splits = {split: WorldObjects(per_class=count, seed=self.seed, stream=40 + 2 * index + offset, **spec)
                      for offset, (split, count) in enumerate((("train", self.train_per_class),
                                                               ("test", self.test_per_class)))}
            tasks.append(MTILTask(name, splits["train"], splits["test"], tuple(spec["classes"]), TEMPLATES[name]))
        return MTILData(tasks=tuple(tasks), zeroshot=world.zeroshot, retrieval=world.retrieval,
                        retrieval_folds=world.retrieval_folds, train_transform=world.train_transform,
                        eval_transform=world.eval_transform)


__all__ = ["DOMAINS", "PseudoDomains"]
