"""The 11 datasets of MTIL (ZSCL, Zheng et al., ICCV 2023) from torchvision's files, as MTIL tasks.

Each dataset is read by its torchvision class (nothing is downloaded) with the splits of ZSCL's
``mtil/src/datasets/collections.py``: the official train / test splits where one exists
(Aircraft ``train``/``test``, not ``trainval``; Pets ``trainval``/``test``; DTD partition 1),
and for Caltech101, EuroSAT and SUN397, which have none, ``torch.utils.data.random_split`` of
the whole set into the first 80 % (train) and the other 20 % (test) with a generator seeded 42.

Class names and prompt templates are the text ZSCL gives CLIP (OpenAI CLIP's published lists,
with ZSCL's few changes): data files ``mtil_vocabularies/<name>.json`` holding ``class_names``,
``templates`` and ``torchvision_classes``, torchvision's identifier of each class. Labels are
mapped by that identifier, never by position, so a file that lists its classes in another order
(or a split that lacks a class) still gets the right names.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torchvision.datasets
from torch.utils.data import Dataset, random_split

from ..._checks import check_class_names, check_name, check_templates
from .mtil_contract import MTILTask
from .files import read_json, require_keys

logger = logging.getLogger(__name__)

MTIL_DATASETS: tuple[str, ...] = ("Aircraft", "Caltech101", "CIFAR100", "DTD", "EuroSAT", "Flowers", "Food",
                                  "MNIST", "OxfordPet", "StanfordCars", "SUN397")
"""The datasets of MTIL, by ZSCL's names, in ZSCL's Order I."""

MTIL_SPLIT_SEED = 42
"""The seed of the 80/20 split of the datasets without an official one (ZSCL's)."""

MTIL_TRAIN_FRACTION = 0.8

VOCABULARY_FORMAT = '{"class_names": [...], "torchvision_classes": [... one per class name], "templates": [...]}'


@dataclass(frozen=True)
class MTILVocabulary:
    """A dataset's class names and prompts, and torchvision's identifier of each class.

    Attributes:
        class_names: the name of label ``i``, as written into the prompts.
        torchvision_classes: torchvision's identifier of the same class (its ``classes`` entry,
            Caltech101's category folder, Flowers102's 1-based label number as a string).
        templates: the prompt templates, each with one ``{}``.
    """

    class_names: tuple[str, ...]
    torchvision_classes: tuple[str, ...]
    templates: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    """Where torchvision reads one MTIL dataset, and which of its splits MTIL uses."""

    torchvision: str  # the class in torchvision.datasets
    required: tuple[str, ...]  # files and folders under root, checked before torchvision reads them
    images: str  # where the images lie, for the error message
    url: str
    train: Mapping[str, Any] | None = None  # the train split's arguments; None: 80/20 split of the whole set
    test: Mapping[str, Any] | None = None
    classes: str | None = "classes"  # the attribute naming the classes; None: labels are numbers
    sorted_files: bool = False  # torchvision keeps the filesystem's listing order (SUN397): sort before splitting
    extra: Mapping[str, Any] = field(default_factory=dict)  # constructor arguments of both splits
    downloads: bool = True  # torchvision's download=True can fetch it


_SOURCES: dict[str, _Source] = {
    "Aircraft": _Source(
        "FGVCAircraft", ("fgvc-aircraft-2013b/data/variants.txt", "fgvc-aircraft-2013b/data/images_variant_train.txt",
                         "fgvc-aircraft-2013b/data/images_variant_test.txt", "fgvc-aircraft-2013b/data/images"),
        "fgvc-aircraft-2013b/data/images/<id>.jpg", "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/",
        {"split": "train"}, {"split": "test"}, extra={"annotation_level": "variant"}),
    "Caltech101": _Source(
        "Caltech101", ("caltech101/101_ObjectCategories", "caltech101/101_ObjectCategories/BACKGROUND_Google"),
        "caltech101/101_ObjectCategories/<category>/image_0001.jpg, ...",
        "https://data.caltech.edu/records/mzrjq-6wc02", classes="categories"),
    "CIFAR100": _Source(
        "CIFAR100", ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
        "the pickled arrays of cifar-100-python/train and test", "https://www.cs.toronto.edu/~kriz/cifar.html",
        {"train": True}, {"train": False}),
    "DTD": _Source(
        "DTD", ("dtd/dtd/labels/train1.txt", "dtd/dtd/labels/test1.txt", "dtd/dtd/images"),
        "dtd/dtd/images/<texture>/<texture>_<id>.jpg", "https://www.robots.ox.ac.uk/~vgg/data/dtd/",
        {"split": "train"}, {"split": "test"}, extra={"partition": 1}),
    "EuroSAT": _Source(
        "EuroSAT", ("eurosat/2750",), "eurosat/2750/<Class>/<Class>_<id>.jpg (the RGB version, EuroSAT.zip)",
        "https://github.com/phelber/EuroSAT"),
    "Flowers": _Source(
        "Flowers102", ("flowers-102/jpg", "flowers-102/imagelabels.mat", "flowers-102/setid.mat"),
        "flowers-102/jpg/image_00001.jpg, ...", "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/",
        {"split": "train"}, {"split": "test"}, classes=None),
    "Food": _Source(
        "Food101", ("food-101/meta/train.json", "food-101/meta/test.json", "food-101/images"),
        "food-101/images/<dish>/<id>.jpg", "https://data.vision.ee.ethz.ch/cvl/datasets_extra/food-101/",
        {"split": "train"}, {"split": "test"}),
    "MNIST": _Source(
        "MNIST", tuple(f"MNIST/raw/{f}-ubyte" for f in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3",
                                                          "t10k-labels-idx1")),
        "the idx arrays of MNIST/raw (the four files unpacked from their .gz)", "https://yann.lecun.com/exdb/mnist/",
        {"train": True}, {"train": False}),
    "OxfordPet": _Source(
        "OxfordIIITPet", ("oxford-iiit-pet/images", "oxford-iiit-pet/annotations/trainval.txt",
                          "oxford-iiit-pet/annotations/test.txt"),
        "oxford-iiit-pet/images/<Breed>_<id>.jpg", "https://www.robots.ox.ac.uk/~vgg/data/pets/",
        {"split": "trainval"}, {"split": "test"}),
    "StanfordCars": _Source(
        "StanfordCars", ("stanford_cars/devkit/cars_meta.mat", "stanford_cars/devkit/cars_train_annos.mat",
                         "stanford_cars/cars_train", "stanford_cars/cars_test_annos_withlabels.mat",
                         "stanford_cars/cars_test"),
        "stanford_cars/cars_train/<id>.jpg and stanford_cars/cars_test/<id>.jpg",
        "a mirror of the Stanford Cars files (the Stanford site is offline; torchvision's StanfordCars "
        "documentation names one)", {"split": "train"}, {"split": "test"}, downloads=False),
    "SUN397": _Source(
        "SUN397", ("SUN397/ClassName.txt",), "SUN397/<letter>/<scene>[/<subscene>]/sun_<id>.jpg",
        "https://vision.princeton.edu/projects/2010/SUN/ (SUN397.tar.gz)", sorted_files=True),
}


def _vocabularies_dir():
    return resources.files("avalanche_clip.benchmarks.datasets") / "mtil_vocabularies"


def load_mtil_vocabulary(name: str) -> MTILVocabulary:
    """The class names, torchvision identifiers and templates shipped for the MTIL dataset ``name``."""
    check_name("MTIL dataset", name, MTIL_DATASETS)
    with resources.as_file(_vocabularies_dir() / f"{name}.json") as path:
        data = require_keys(read_json(path, what="MTIL vocabulary"), ["class_names", "torchvision_classes",
                                                                     "templates"], where=str(path),
                            expected=VOCABULARY_FORMAT)
        names, identifiers = check_class_names(data["class_names"]), check_class_names(data["torchvision_classes"])
        if len(names) != len(identifiers):
            raise ValueError(f"{path}: {len(names)} class_names but {len(identifiers)} torchvision_classes. "
                             f"Expected {VOCABULARY_FORMAT}.")
        return MTILVocabulary(names, identifiers, check_templates(data["templates"]))


def _check_layout(name: str, root: Path) -> None:
    """Raise a FileNotFoundError naming the missing paths, torchvision's layout and where to get it."""
    source = _SOURCES[name]
    missing = [str(root / path) for path in source.required if not (root / path).exists()]
    if missing:
        download = (f" (or let torchvision download them once: torchvision.datasets.{source.torchvision}(root, "
                    "download=True))" if source.downloads else "")
        raise FileNotFoundError(
            f"MTIL dataset {name}: {missing[0]!r} does not exist ({len(missing)} of its {len(source.required)} "
            f"expected paths missing). torchvision's {source.torchvision} reads, under root={str(root)!r}: "
            f"{', '.join(source.required)}; the images as {source.images}. Get the files from {source.url} "
            f"and unpack them there{download}."
        )


def _open(name: str, root: Path, split: Mapping[str, Any]) -> Dataset:
    """torchvision's dataset for one split; a refusal of the files is reported with the layout."""
    source = _SOURCES[name]
    try:
        return getattr(torchvision.datasets, source.torchvision)(str(root), download=False, **source.extra, **split)
    except RuntimeError as error:  # torchvision's "Dataset not found or corrupted" (a checksum differs)
        raise RuntimeError(f"MTIL dataset {name}: torchvision's {source.torchvision} refused the files under "
                           f"{str(root)!r}: {error}. Expected {', '.join(source.required)} as distributed by "
                           f"{source.url}.") from error


def _torchvision_labels(dataset: Dataset) -> list[int]:
    """Every sample's torchvision label, without decoding an image.

    torchvision keeps them under several names: ``targets`` (CIFAR, MNIST, EuroSAT), ``y``
    (Caltech101), ``_labels`` (most) or in ``_samples`` (StanfordCars); the tests build every
    MTIL dataset, so a change in torchvision shows there.
    """
    for attribute in ("targets", "y", "_labels"):
        labels = getattr(dataset, attribute, None)
        if labels is not None:
            return [int(label) for label in labels]
    return [int(label) for _, label in dataset._samples]


def _label_map(name: str, dataset: Dataset, labels: list[int], vocabulary: MTILVocabulary) -> dict[int, int]:
    """torchvision's label -> the label of ``vocabulary``, matched by class identifier."""
    attribute = _SOURCES[name].classes
    identifiers = (dict(enumerate(getattr(dataset, attribute))) if attribute is not None
                   else {label: str(label + 1) for label in set(labels)})
    unnamed = sorted(set(labels) - set(identifiers))
    if unnamed:  # e.g. OxfordIIITPet names only the classes its split file holds, but keeps their ids
        raise ValueError(f"MTIL dataset {name}: torchvision's {_SOURCES[name].torchvision} gives labels {unnamed[:5]} "
                         "that its class list does not name: are its files complete?")
    index = {identifier: label for label, identifier in enumerate(vocabulary.torchvision_classes)}
    unknown = sorted(str(i) for i in identifiers.values() if i not in index)
    if unknown:
        raise ValueError(f"MTIL dataset {name}: the files hold classes {unknown[:5]} ({len(unknown)} in all) that its "
                         f"vocabulary (mtil_vocabularies/{name}.json) does not list: are they the original "
                         f"{_SOURCES[name].torchvision} files?")
    return {label: index[identifier] for label, identifier in identifiers.items()}


class MTILSplit(Dataset):
    """One split of an MTIL dataset: torchvision's samples with the vocabulary's labels, images RGB.

    ``split[i]`` is ``(PIL RGB image, label)``, the label indexing the task's ``class_names``
    (grey images, MNIST's and some of Caltech101's, are converted to RGB for CLIP).

    Args:
        dataset: the torchvision dataset.
        indices: the positions in ``dataset`` this split holds, in order.
        targets: the label of each of them, in the vocabulary's numbering.
        description: e.g. ``"Flowers train"``, for ``repr``.
    """

    def __init__(self, dataset: Dataset, *, indices: Sequence[int], targets: Sequence[int], description: str):
        if len(indices) != len(targets):
            raise ValueError(f"{description}: {len(indices)} indices but {len(targets)} targets.")
        self.dataset = dataset
        self.indices = list(indices)
        self.targets = [int(t) for t in targets]
        self.description = description

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image, _ = self.dataset[self.indices[index]]
        return (image if image.mode == "RGB" else image.convert("RGB")), self.targets[index]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description}, {len(self)} samples)"


def _relabelled(name: str, dataset: Dataset, vocabulary: MTILVocabulary) -> tuple[list[int], list[int]]:
    """All positions of ``dataset`` (sorted by file where torchvision lists them unsorted), and their labels."""
    labels = _torchvision_labels(dataset)
    to_vocabulary = _label_map(name, dataset, labels, vocabulary)
    positions = list(range(len(labels)))
    if _SOURCES[name].sorted_files:
        files = [str(f) for f in dataset._image_files]  # SUN397 lists them as rglob finds them
        positions.sort(key=files.__getitem__)
    missing = len(vocabulary.class_names) - len(set(to_vocabulary.values()))
    if missing:
        logger.warning("MTIL dataset %s: %d of its %d classes have no image in %s; they stay in the vocabulary.",
                       name, missing, len(vocabulary.class_names), dataset.root)
    return positions, [to_vocabulary[labels[p]] for p in positions]


def _official_splits(name: str, root: Path, vocabulary: MTILVocabulary) -> tuple[MTILSplit, MTILSplit]:
    splits = []
    for split, arguments in (("train", _SOURCES[name].train), ("test", _SOURCES[name].test)):
        dataset = _open(name, root, arguments)
        positions, targets = _relabelled(name, dataset, vocabulary)
        splits.append(MTILSplit(dataset, indices=positions, targets=targets, description=f"{name} {split}"))
    return splits[0], splits[1]


def _random_splits(name: str, root: Path, vocabulary: MTILVocabulary, seed: int) -> tuple[MTILSplit, MTILSplit]:
    """ZSCL's split: ``random_split`` into the first 80 % (train) and the rest (test)."""
    dataset = _open(name, root, {})
    positions, targets = _relabelled(name, dataset, vocabulary)
    train_size = int(MTIL_TRAIN_FRACTION * len(positions))
    parts = random_split(range(len(positions)), [train_size, len(positions) - train_size],
                         generator=torch.Generator().manual_seed(seed))
    return tuple(MTILSplit(dataset, indices=[positions[i] for i in part.indices],
                           targets=[targets[i] for i in part.indices], description=f"{name} {split}")
                 for split, part in zip(("train", "test"), parts))


def mtil_task(name: str, root: str | os.PathLike, *, split_seed: int = MTIL_SPLIT_SEED) -> MTILTask:
    """One MTIL dataset from torchvision's files under ``root``, with its MTIL splits and prompts.

    Args:
        name: one of :data:`MTIL_DATASETS` (ZSCL's names: ``"Aircraft"``, ``"Flowers"``, ...).
        root: the folder holding torchvision's folder of the dataset (``fgvc-aircraft-2013b/``,
            ``caltech101/``, ...); the same root can hold all 11.
        split_seed: the seed of the 80/20 split of Caltech101, EuroSAT and SUN397 (ZSCL's 42).

    Raises:
        FileNotFoundError: a file or folder torchvision reads is missing (the message names it,
            the layout, and where to get the dataset).
    """
    check_name("MTIL dataset", name, MTIL_DATASETS)
    if isinstance(split_seed, bool) or not isinstance(split_seed, int):
        raise TypeError(f"split_seed must be an integer, got {type(split_seed).__name__} {split_seed!r}.")
    root = Path(root).expanduser()
    _check_layout(name, root)
    vocabulary = load_mtil_vocabulary(name)
    official = _SOURCES[name].train is not None
    train, test = (_official_splits(name, root, vocabulary) if official
                   else _random_splits(name, root, vocabulary, split_seed))
    return MTILTask(name=name, train=train, test=test, class_names=vocabulary.class_names,
                    templates=vocabulary.templates)


def mtil_tasks(root: str | os.PathLike, *, names: Sequence[str] = MTIL_DATASETS,
               split_seed: int = MTIL_SPLIT_SEED) -> list[MTILTask]:
    """Several MTIL datasets under one ``root``, in the order of ``names`` (default: all 11, Order I).

    Every dataset's files are checked before any is read, so a missing one fails at once.
    """
    if isinstance(names, str):
        raise TypeError(f"names must be a list of MTIL dataset names, got the string {names!r}.")
    for name in names:
        check_name("MTIL dataset", name, MTIL_DATASETS)
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ValueError(f"names lists {repeated} more than once: each MTIL dataset is one task.")
    for name in names:
        _check_layout(name, Path(root).expanduser())
    return [mtil_task(name, root, split_seed=split_seed) for name in names]


__all__ = [
    "MTILSplit",
    "MTILVocabulary",
    "MTIL_DATASETS",
    "MTIL_SPLIT_SEED",
    "MTIL_TRAIN_FRACTION",
    "VOCABULARY_FORMAT",
    "load_mtil_vocabulary",
    "mtil_task",
    "mtil_tasks",
]
