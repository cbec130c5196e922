"""Small files in the exact layout torchvision 0.29 reads for the 11 MTIL datasets.

Each writer takes the samples as ``(class, width)`` pairs: every image is a tiny JPEG whose width
is unique in its dataset, so a test recognises which file a sample was read from (CIFAR and
MNIST arrays carry the id as their pixel value instead). Where torchvision takes the class list
from one file (CIFAR's meta, variants.txt, cars_meta.mat, ClassName.txt, Food's json) the full
list is written, from the shipped vocabulary's torchvision identifiers.
"""

from __future__ import annotations

import hashlib
import pickle
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from avalanche_clip.benchmarks.datasets.mtil_datasets import load_mtil_vocabulary
from data_files import write_image, write_json

HEIGHT = 6

Samples = list[tuple[str, int]]


def jpeg(path: Path, width: int, *, mode: str = "RGB") -> None:
    """A ``width`` x 6 JPEG; ``mode="L"`` writes a grey one."""
    if mode == "RGB":
        write_image(path, size=(width, HEIGHT))
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new(mode, (width, HEIGHT), 90).save(path)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))


def write_aircraft(root: Path, train: Samples, test: Samples) -> None:
    data = root / "fgvc-aircraft-2013b" / "data"
    _lines(data / "variants.txt", list(load_mtil_vocabulary("Aircraft").torchvision_classes))
    for split, samples in (("train", train), ("test", test)):
        _lines(data / f"images_variant_{split}.txt", [f"{1000000 + w} {variant}" for variant, w in samples])
        for _, w in samples:
            jpeg(data / "images" / f"{1000000 + w}.jpg", w)


def write_caltech101(root: Path, samples: Samples, grey: frozenset[int] = frozenset()) -> None:
    """Every category folder (most empty) and BACKGROUND_Google; ``grey`` widths are written as L images."""
    categories = root / "caltech101" / "101_ObjectCategories"
    for category in (*load_mtil_vocabulary("Caltech101").torchvision_classes, "BACKGROUND_Google"):
        (categories / category).mkdir(parents=True, exist_ok=True)
    jpeg(categories / "BACKGROUND_Google" / "image_0001.jpg", 99)
    count: dict[str, int] = {}
    for category, w in samples:
        count[category] = count.get(category, 0) + 1
        jpeg(categories / category / f"image_{count[category]:04d}.jpg", w, mode="L" if w in grey else "RGB")


def write_cifar100(root: Path, train: list[tuple[str, int]], test: list[tuple[str, int]]) -> dict[str, str]:
    """The pickles (``(fine label name, pixel value)`` samples); returns each file's md5."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    names = [c for c in load_mtil_vocabulary("CIFAR100").torchvision_classes]
    for split, samples in (("train", train), ("test", test)):
        entry = {"filenames": [f"{i}.png" for i in range(len(samples))],
                 "fine_labels": [names.index(c) for c, _ in samples], "coarse_labels": [0] * len(samples),
                 "data": np.stack([np.full(3072, v, dtype=np.uint8) for _, v in samples])}
        (folder / split).write_bytes(pickle.dumps(entry, protocol=2))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": names, "coarse_label_names": ["x"] * 20},
                                               protocol=2))
    return {name: md5(folder / name) for name in ("train", "test", "meta")}


def write_dtd(root: Path, train: Samples, test: Samples) -> None:
    data = root / "dtd" / "dtd"
    for split, samples in (("train", train), ("test", test), ("val", [])):
        _lines(data / "labels" / f"{split}1.txt", [f"{texture}/{texture}_{w:04d}.jpg" for texture, w in samples])
        for texture, w in samples:
            jpeg(data / "images" / texture / f"{texture}_{w:04d}.jpg", w)


def write_eurosat(root: Path, samples: Samples) -> None:
    for name, w in samples:
        jpeg(root / "eurosat" / "2750" / name / f"{name}_{w}.jpg", w)


def write_flowers(root: Path, train: Samples, test: Samples, val: Samples) -> dict[str, str]:
    """``(label number 1..102, width)`` samples, image id = width; returns the .mat files' md5."""
    folder = root / "flowers-102"
    every = sorted([*train, *test, *val], key=lambda sample: sample[1])
    labels = np.zeros(max(w for _, w in every), dtype=np.uint8)
    for number, w in every:
        labels[w - 1] = int(number)
        jpeg(folder / "jpg" / f"image_{w:05d}.jpg", w)
    scipy.io.savemat(folder / "imagelabels.mat", {"labels": labels[None, :]})
    scipy.io.savemat(folder / "setid.mat", {key: np.array([[w for _, w in samples]], dtype=np.uint16)
                                            for key, samples in (("trnid", train), ("tstid", test), ("valid", val))})
    return {name: md5(folder / name) for name in ("imagelabels.mat", "setid.mat")}


def write_food(root: Path, train: Samples, test: Samples) -> None:
    folder = root / "food-101"
    classes = load_mtil_vocabulary("Food").torchvision_classes
    for split, samples in (("train", train), ("test", test)):
        listed = {c: [f"{c}/{w}" for name, w in samples if name == c] for c in classes}
        write_json(folder / "meta" / f"{split}.json", listed)
        _lines(folder / "meta" / f"{split}.txt", [f"{name}/{w}" for name, w in samples])
        for name, w in samples:
            jpeg(folder / "images" / name / f"{w}.jpg", w)
    _lines(folder / "meta" / "classes.txt", list(classes))


def _idx(path: Path, array: np.ndarray) -> None:
    """An idx file: magic (0, 0, type 0x08 = uint8, number of dimensions), the sizes, the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, train: list[tuple[int, int]], test: list[tuple[int, int]]) -> None:
    """``(digit, pixel value)`` samples as 28 x 28 images in MNIST/raw."""
    for prefix, samples in (("train", train), ("t10k", test)):
        _idx(root / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte",
             np.stack([np.full((28, 28), v) for _, v in samples]))
        _idx(root / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", np.array([d for d, _ in samples]))


def write_pets(root: Path, train: list[tuple[str, int, int]], test: list[tuple[str, int, int]]) -> None:
    """``(file-name breed, class id 1..37, width)`` samples; cats' breeds are capitalised in the names."""
    folder = root / "oxford-iiit-pet"
    for split, samples in (("trainval", train), ("test", test)):
        _lines(folder / "annotations" / f"{split}.txt",
               [f"{breed}_{w} {class_id} {1 if breed[0].isupper() else 2} 1" for breed, class_id, w in samples])
        for breed, _, w in samples:
            jpeg(folder / "images" / f"{breed}_{w}.jpg", w)


def _cars_annotations(path: Path, samples: list[tuple[int, int]]) -> None:
    fields = [("bbox_x1", "O"), ("bbox_y1", "O"), ("bbox_x2", "O"), ("bbox_y2", "O"), ("class", "O"), ("fname", "O")]
    records = np.array([(0, 0, w - 1, HEIGHT - 1, number, f"{w:05d}.jpg") for number, w in samples], dtype=fields)
    scipy.io.savemat(path, {"annotations": records[None, :]})


def write_cars(root: Path, train: list[tuple[int, int]], test: list[tuple[int, int]]) -> None:
    """``(class number 1..196, width)`` samples in the devkit's .mat files."""
    folder = root / "stanford_cars"
    (folder / "devkit").mkdir(parents=True, exist_ok=True)
    names = np.array([list(load_mtil_vocabulary("StanfordCars").torchvision_classes)], dtype=object)
    scipy.io.savemat(folder / "devkit" / "cars_meta.mat", {"class_names": names})
    _cars_annotations(folder / "devkit" / "cars_train_annos.mat", train)
    _cars_annotations(folder / "cars_test_annos_withlabels.mat", test)
    for images, samples in (("cars_train", train), ("cars_test", test)):
        for _, w in samples:
            jpeg(folder / images / f"{w:05d}.jpg", w)


def write_sun397(root: Path, samples: Samples) -> None:
    """``(class as in ClassName.txt without its letter, width)`` samples under SUN397/<letter>/<class>/."""
    folder = root / "SUN397"
    _lines(folder / "ClassName.txt", [f"/{c[0]}/{c}" for c in load_mtil_vocabulary("SUN397").torchvision_classes])
    for name, w in samples:
        jpeg(folder / name[0] / name / f"sun_{w:04d}.jpg", w)


PET_BREEDS = (
    "Abyssinian", "american_bulldog", "american_pit_bull_terrier", "basset_hound", "beagle", "Bengal", "Birman",
    "Bombay", "boxer", "British_Shorthair", "chihuahua", "Egyptian_Mau", "english_cocker_spaniel", "english_setter",
    "german_shorthaired", "great_pyrenees", "havanese", "japanese_chin", "keeshond", "leonberger", "Maine_Coon",
    "miniature_pinscher", "newfoundland", "Persian", "pomeranian", "pug", "Ragdoll", "Russian_Blue", "saint_bernard",
    "samoyed", "scottish_terrier", "shiba_inu", "Siamese", "Sphynx", "staffordshire_bull_terrier", "wheaten_terrier",
    "yorkshire_terrier",
)
"""The breeds as the Oxford-IIIT Pet files spell them (cats capitalised), in class-id order (id = index + 1)."""
