"""Shared test fixtures: the tiny CLIP of the environment notes and generated labelled images."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import Dataset

from avalanche_clip.models import CLIPClassifier
from data_files import write_coco, write_folder


class GeneratedImages(Dataset):
    """Seeded 3x32x32 images: each class is a fixed colour pattern plus noise.

    ``targets`` lists the labels, as torchvision datasets do.
    """

    def __init__(self, num_classes: int, per_class: int, *, seed: int = 0, image_size: int = 32):
        generator = torch.Generator().manual_seed(seed)
        patterns = torch.rand(num_classes, 3, 4, 4, generator=torch.Generator().manual_seed(1234))
        patterns = patterns.repeat_interleave(image_size // 4, 2).repeat_interleave(image_size // 4, 3)
        self.targets = [c for c in range(num_classes) for _ in range(per_class)]
        noise = 0.1 * torch.randn(len(self.targets), 3, image_size, image_size, generator=generator)
        self.images = patterns[self.targets] + noise

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        return self.images[index], self.targets[index]


CLASS_NAMES = ["cat", "dog", "bird", "fish", "horse", "sheep", "cow", "bear", "zebra", "giraffe"]


@pytest.fixture(scope="session")
def base_tiny_clip():
    """One tiny CLIP (random, seeded) and its tokenizer, built once per session."""
    torch.manual_seed(0)
    model = CLIPClassifier.from_pretrained("tiny-clip")
    return model.clip, model.tokenizer


def classifier_factory(clip, tokenizer):
    """``make(**kwargs)``: a fresh CLIPClassifier around a copy of ``clip`` (the original stays untouched)."""

    def make(**kwargs) -> CLIPClassifier:
        return CLIPClassifier(copy.deepcopy(clip), tokenizer, **kwargs)

    return make


@pytest.fixture
def make_model(base_tiny_clip):
    """Build a fresh CLIPClassifier around a copy of the session's tiny CLIP."""
    return classifier_factory(*base_tiny_clip)


@pytest.fixture
def generated():
    """``(train, test)`` generated datasets over the 10 CLASS_NAMES."""
    return GeneratedImages(10, 6, seed=1), GeneratedImages(10, 3, seed=2)


class GeneratedZeroShot(GeneratedImages):
    """GeneratedImages as a ZeroShotDataset: ``(image, label)`` items, ``classes``, ``templates``."""

    def __init__(self, classes, per_class: int, *, templates, seed: int = 0):
        super().__init__(len(classes), per_class, seed=seed)
        self.classes = list(classes)
        self.templates = list(templates)


class GeneratedRetrieval(Dataset):
    """A RetrievalDataset: seeded images, each with ``captions_per_image`` distinct captions."""

    COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "black", "white", "grey", "pink"]
    THINGS = ["star", "ring", "square", "circle", "cross"]

    def __init__(self, num_images: int, captions_per_image: int = 5, *, seed: int = 0):
        self.images = GeneratedImages(num_images, 1, seed=seed).images
        self.captions = [
            f"a {self.COLOURS[i % len(self.COLOURS)]} {self.THINGS[j % len(self.THINGS)]} number {i}"
            for i in range(num_images) for j in range(captions_per_image)
        ]
        self.caption_to_image = [i for i in range(num_images) for _ in range(captions_per_image)]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images[index]


ZEROSHOT_CLASSES = ["red", "green", "blue", "yellow", "purple"]
ZEROSHOT_TEMPLATES = ["a photo of a {} thing .", "a {} picture ."]


@pytest.fixture
def zeroshot_set():
    """A ZeroShotDataset: 5 colour classes x 4 images, two prompt templates."""
    return GeneratedZeroShot(ZEROSHOT_CLASSES, 4, templates=ZEROSHOT_TEMPLATES, seed=3)


@pytest.fixture
def retrieval_set():
    """A RetrievalDataset: 12 images with 5 captions each."""
    return GeneratedRetrieval(12, 5, seed=4)


@pytest.fixture(scope="session")
def repo_root():
    """The repository root (examples/, README.md)."""
    from pathlib import Path

    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def paper_files(tmp_path_factory):
    """``PaperData`` arguments over the small COCO files of data_files (3 classes) and a zero-shot folder."""
    root = tmp_path_factory.mktemp("paper")
    coco = write_coco(root / "coco")
    return {"coco_root": str(coco.root), "coco_karpathy_json": str(coco.karpathy_json),
            "zeroshot": {"shapes": {"kind": "folder", "root": str(write_folder(root / "zs"))}},
            "cache_dir": str(root / "cache"), "coco_folds": 1}
