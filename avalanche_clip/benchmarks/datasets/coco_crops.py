"""COCO object crops: the update task of the paper (PROTOCOL.md section 2).

One sample per instance box of a COCO instances file: the box cut from its image, labelled with
its category's index in COCO order (categories sorted by id: 0..79 for COCO's 80). Train crops:
every box of ``instances_train2014.json``; test crops: the boxes of ``instances_val2014.json``
whose image is in the Karpathy 5K test split of ``dataset_coco.json``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from torchvision.datasets import VisionDataset

from ..._checks import check_choice, check_class_names, check_non_negative
from .files import (
    COCO_URL,
    KARPATHY_URL,
    check_files_exist,
    default_cache_dir,
    file_signature,
    read_json,
    require_dir,
    require_file,
    require_keys,
    require_list,
)
from .images import ImageErrorPolicy, OnError, read_rgb
from .index_cache import Arrays, cached_index
from .karpathy import read_karpathy_split

logger = logging.getLogger(__name__)

COCO_SPLITS: tuple[str, ...] = ("train", "test")

INSTANCES_FORMAT = (
    'a COCO instances file {"images": [{"id", "file_name"}], "annotations": [{"image_id", '
    f'"category_id", "bbox": [x, y, w, h], "iscrowd"?}}], "categories": [{{"id", "name"}}]}} '
    f"such as annotations/instances_train2014.json from {COCO_URL}"
)


def _require_id(value: Any, where: str) -> int:
    """A COCO id: an integer (JSON numbers only; ``true`` is not an id)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer id, got {value!r}. Expected {INSTANCES_FORMAT}.")
    return value


def _categories(data: Any, where: str) -> tuple[tuple[str, ...], dict[Any, int]]:
    """Class names in COCO order (sorted by category id) and the category id -> label map."""
    entries = require_list(data["categories"], where=f"{where}: categories", expected=INSTANCES_FORMAT)
    for i, entry in enumerate(entries):
        require_keys(entry, ["id", "name"], where=f"{where}: categories[{i}]", expected=INSTANCES_FORMAT)
        _require_id(entry["id"], f"{where}: categories[{i}].id")
    ids = [entry["id"] for entry in entries]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{where}: categories repeat the ids {sorted({i for i in ids if ids.count(i) > 1})[:5]}.")
    ordered = sorted(entries, key=lambda entry: entry["id"])
    names = check_class_names([entry["name"] for entry in ordered])
    return names, {entry["id"]: label for label, entry in enumerate(ordered)}


def _image_files(data: Any, where: str) -> dict[Any, str]:
    entries = require_list(data["images"], where=f"{where}: images", expected=INSTANCES_FORMAT)
    for i, entry in enumerate(entries):
        require_keys(entry, ["id", "file_name"], where=f"{where}: images[{i}]", expected=INSTANCES_FORMAT)
        _require_id(entry["id"], f"{where}: images[{i}].id")
        if not isinstance(entry["file_name"], str) or not entry["file_name"]:
            raise ValueError(f"{where}: images[{i}].file_name must be a file name, got {entry['file_name']!r}.")
    return {entry["id"]: entry["file_name"] for entry in entries}


def _box(bbox: Any, where: str) -> tuple[float, float, float, float]:
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise ValueError(f"{where}: bbox must be [x, y, width, height] numbers, got {bbox!r}.")
    return tuple(float(v) for v in bbox)


def _test_split_files(karpathy_json: Path, file_of: dict[Any, str], where: str) -> set[str]:
    """The file names of the Karpathy test split; refused if none is an image of ``where``."""
    split_files = {image.filename for image in read_karpathy_split(karpathy_json, "test")}
    if not split_files & set(file_of.values()):
        raise ValueError(
            f"No image of {where} is in the Karpathy test split of {karpathy_json}: the test "
            "crops need instances_val2014.json with dataset_coco.json."
        )
    return split_files


def _check_annotation(ann: Any, at: str, file_of: dict[Any, str], label_of: dict[Any, int]) -> None:
    """Refuse an annotation without its keys, or naming an image or category the file lacks."""
    require_keys(ann, ["image_id", "category_id", "bbox"], where=at, expected=INSTANCES_FORMAT)
    _require_id(ann["image_id"], f"{at}.image_id")
    _require_id(ann["category_id"], f"{at}.category_id")
    if ann["image_id"] not in file_of:
        raise ValueError(f"{at}: image_id {ann['image_id']!r} is not in the file's images.")
    if ann["category_id"] not in label_of:
        raise ValueError(f"{at}: category_id {ann['category_id']!r} is not in the file's categories.")


def build_crop_index(
    instances_json: Path, karpathy_json: Path | None, *, min_size: float, include_crowd: bool
) -> Arrays:
    """Index the kept boxes of a COCO instances file (the slow part: parses the whole JSON).

    Returns arrays ``class_names`` [C], ``files`` [F] (image file names), ``image_index`` [N]
    (into ``files``), ``boxes`` [N, 4] (left, top, right, bottom; integer pixels), ``labels``
    [N], and ``stats`` (a JSON string of counts).
    """
    where = str(instances_json)
    data = require_keys(read_json(instances_json, what="COCO instances file"),
                        ["images", "annotations", "categories"], where=where, expected=INSTANCES_FORMAT)
    class_names, label_of = _categories(data, where)
    file_of = _image_files(data, where)
    split_files = None if karpathy_json is None else _test_split_files(karpathy_json, file_of, where)
    annotations = require_list(data["annotations"], where=f"{where}: annotations", expected=INSTANCES_FORMAT)
    stats = dict(annotations=len(annotations), kept=0, crowd_kept=0, crowd_dropped=0, too_small=0,
                 outside_split=0)
    file_ids: dict[str, int] = {}
    image_index, boxes, labels = [], [], []
    for i, ann in enumerate(annotations):
        at = f"{where}: annotations[{i}]"
        _check_annotation(ann, at, file_of, label_of)
        crowd = bool(ann.get("iscrowd", 0))
        if crowd and not include_crowd:
            stats["crowd_dropped"] += 1
            continue
        file_name = file_of[ann["image_id"]]
        if split_files is not None and file_name not in split_files:
            stats["outside_split"] += 1
            continue
        x, y, w, h = _box(ann["bbox"], at)
        if not (w > min_size and h > min_size):
            stats["too_small"] += 1
            continue
        stats["kept"] += 1
        stats["crowd_kept"] += crowd
        image_index.append(file_ids.setdefault(file_name, len(file_ids)))
        boxes.append((round(x), round(y), round(x + w), round(y + h)))
        labels.append(label_of[ann["category_id"]])
    if not labels:
        raise ValueError(
            f"{where} has no instance box to keep with min_size={min_size}: {stats}. Expected "
            f"{INSTANCES_FORMAT}."
        )
    return dict(
        class_names=np.array(class_names),
        files=np.array(list(file_ids)),
        image_index=np.array(image_index, dtype=np.int64),
        boxes=np.array(boxes, dtype=np.int64).reshape(-1, 4),
        labels=np.array(labels, dtype=np.int64),
        stats=np.array(json.dumps(stats)),
    )


def _images_dir(root: Path, instances_json: Path) -> Path:
    """``root/<name>`` for ``instances_<name>.json`` when that folder exists, else ``root``."""
    stem = instances_json.stem
    if stem.startswith("instances_") and (root / stem[len("instances_"):]).is_dir():
        return root / stem[len("instances_"):]
    return root


class COCOCrops(VisionDataset):
    """Object crops of COCO instance boxes, labelled with their category in COCO order.

    ``dataset[i]`` is ``(crop, label)``: the crop of box ``i`` cut from its image when read (a
    PIL image, or ``transform(crop)``). A box ``[x, y, w, h]`` is kept when ``w > min_size`` and
    ``h > min_size``; it is cut at ``(round(x), round(y), round(x + w), round(y + h))``, clipped
    to the image.

    Images: the files named by the instances file's ``file_name`` are read from
    ``images_root/<name>/`` when the instances file is ``instances_<name>.json`` and
    ``images_root`` holds a folder ``<name>`` (the COCO root holding ``train2014/`` and
    ``val2014/``), else from ``images_root`` itself (``.../train2014``). Every image with a kept
    box is checked to exist at construction.

    Crowd boxes (``iscrowd=1``, about 1% of COCO's boxes, each around a group of objects) are
    kept by default, as the protocol crops every instance box; ``include_crowd=False`` drops
    them. ``extra_repr`` reports how many were kept or dropped.

    The box index is built once and cached in ``cache_dir`` (default
    ``$XDG_CACHE_HOME/avalanche-clip``, i.e. ``~/.cache/avalanche-clip``), keyed by the size and
    modification time of the instances file (and of the Karpathy file), ``split``, ``min_size``
    and ``include_crowd``; it is rebuilt when any of them changes. An image that cannot be
    decoded is handled by ``on_error`` (see :class:`~avalanche_clip.benchmarks.datasets.ImageErrorPolicy`).

    Args:
        images_root: the COCO root holding the images folder, or the images folder (see above).
        instances_json: the COCO instances file (``instances_train2014.json`` for ``"train"``,
            ``instances_val2014.json`` for ``"test"``).
        split: ``"train"``: every kept box; ``"test"``: the kept boxes of the images in the
            Karpathy ``test`` split of ``karpathy_json``.
        karpathy_json: the Karpathy split file (``dataset_coco.json``); required by ``"test"``,
            refused by ``"train"``.
        min_size: boxes need width and height above this many pixels.
        include_crowd: keep crowd boxes.
        transform: applied to each crop (a PIL image).
        cache_dir: where the box index is cached.
        on_error: ``"skip"`` or ``"raise"`` on an image that cannot be decoded.

    Attributes:
        classes / class_names: the category names in COCO order (list / tuple).
        class_to_idx: name -> label.
        targets: the label of every sample (no image is read to get them).
    """

    def __init__(
        self,
        images_root: str | os.PathLike,
        instances_json: str | os.PathLike,
        split: Literal["train", "test"] = "train",
        *,
        karpathy_json: str | os.PathLike | None = None,
        min_size: float = 4,
        include_crowd: bool = True,
        transform: Callable[[Any], Any] | None = None,
        cache_dir: str | os.PathLike | None = None,
        on_error: OnError = "skip",
    ):
        self.split = check_choice("split", split, COCO_SPLITS)
        self.min_size = check_non_negative("min_size", min_size)
        instances = require_file(instances_json, what="COCO instances file", get=INSTANCES_FORMAT)
        karpathy = self._karpathy_file(karpathy_json)
        root = require_dir(images_root, what="COCO images folder",
                           get=f"the folder of the images of {instances.name} or the COCO root holding it, "
                               f"from {COCO_URL}")
        super().__init__(root, transform=transform)
        self.instances_json, self.karpathy_json, self.include_crowd = instances, karpathy, include_crowd
        index = cached_index(
            cache_dir=Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir(),
            name=f"coco_crops_{split}",
            identity=dict(instances=str(instances.resolve()),
                          karpathy=str(karpathy.resolve()) if karpathy else None,
                          split=split, min_size=min_size, include_crowd=include_crowd),
            signature=dict(instances=file_signature(instances),
                           karpathy=file_signature(karpathy) if karpathy else None),
            build=lambda: build_crop_index(instances, karpathy, min_size=min_size, include_crowd=include_crowd),
        )
        self.class_names = tuple(str(name) for name in index["class_names"])
        self.classes = list(self.class_names)
        self.class_to_idx = {name: label for label, name in enumerate(self.class_names)}
        self.stats = json.loads(str(index["stats"]))
        images_dir = _images_dir(root, instances)
        self.image_paths = [images_dir / str(name) for name in index["files"]]
        check_files_exist(self.image_paths, listed_in=str(instances),
                          get=f"them in {str(images_dir)!r} (COCO images from {COCO_URL})")
        self._image_index, self._boxes = index["image_index"], index["boxes"]  # [N], [N, 4]
        self.targets = index["labels"].tolist()
        self._policy = ImageErrorPolicy(self.targets, on_error=on_error, dataset=f"COCOCrops({instances})")

    def _karpathy_file(self, karpathy_json: str | os.PathLike | None) -> Path | None:
        if self.split == "train":
            if karpathy_json is not None:
                raise ValueError("karpathy_json is only used by split='test' (the train crops are every "
                                 "box of instances_train2014.json); leave it None for split='train'.")
            return None
        if karpathy_json is None:
            raise ValueError(
                "split='test' needs karpathy_json: the Karpathy split file dataset_coco.json, whose "
                f"'test' images select the test crops (from {KARPATHY_URL})."
            )
        return require_file(karpathy_json, what="Karpathy split file", get=f"dataset_coco.json from {KARPATHY_URL}")

    @property
    def unreadable(self) -> set[str]:
        """The image files found unreadable so far in this process (``on_error="skip"``)."""
        return self._policy.unreadable

    def box(self, index: int) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of sample ``index`` in its image, before clipping."""
        return tuple(int(v) for v in self._boxes[index])

    def image_path(self, index: int) -> Path:
        """The image file sample ``index`` is cut from."""
        return self.image_paths[int(self._image_index[index])]

    def _read(self, index: int) -> tuple[Any, int]:
        image = read_rgb(self.image_path(index))
        left, top, right, bottom = self.box(index)
        box = (max(left, 0), max(top, 0), min(right, image.width), min(bottom, image.height))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise ValueError(f"Box {self.box(index)} of sample {index} lies outside its image "
                             f"{self.image_path(index)} ({image.width}x{image.height}).")
        crop = image.crop(box)
        return (crop if self.transform is None else self.transform(crop)), self.targets[index]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self._policy.read(index, self._read)

    def __len__(self) -> int:
        return len(self.targets)

    def extra_repr(self) -> str:
        return (f"Split: {self.split}\nInstances: {self.instances_json}\nKarpathy: {self.karpathy_json}\n"
                f"min_size: {self.min_size}, include_crowd: {self.include_crowd}\nBoxes: {self.stats}")


__all__ = ["COCOCrops", "COCO_SPLITS", "INSTANCES_FORMAT", "build_crop_index"]
