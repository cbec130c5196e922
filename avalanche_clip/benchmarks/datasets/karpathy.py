"""Karpathy caption splits (``dataset_coco.json``, ``dataset_flickr30k.json``) and retrieval sets.

A Karpathy split file is ``{"images": [{"filepath"?, "filename", "split", "sentences":
[{"raw": ...}, ...]}, ...]}``; COCO entries have ``"filepath": "val2014"`` (or ``"train2014"``),
Flickr30K entries have no ``filepath``. Splits: ``train``, ``val``, ``test`` (COCO: 5000
images; Flickr30K: 1000) and, for COCO, ``restval``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torchvision.datasets import VisionDataset

from ..._checks import check_positive_int
from .files import (
    KARPATHY_URL,
    check_files_exist,
    read_json,
    require_dir,
    require_file,
    require_keys,
    require_list,
)
from .images import read_rgb

logger = logging.getLogger(__name__)

KARPATHY_FORMAT = (
    '{"images": [{"filepath" (optional), "filename", "split", "sentences": [{"raw": ...}]}]}, '
    f"as in dataset_coco.json / dataset_flickr30k.json from {KARPATHY_URL}"
)


@dataclass(frozen=True)
class KarpathyImage:
    """One image of a Karpathy split file.

    Attributes:
        filepath: the image's subfolder (``"val2014"`` for COCO), or None (Flickr30K).
        filename: the image file's name.
        captions: its captions, stripped and lower-cased, in file order.
    """

    filepath: str | None
    filename: str
    captions: tuple[str, ...]


def _parse_captions(entry: Any, where: str) -> tuple[str, ...]:
    sentences = require_list(entry["sentences"], where=f"{where}.sentences", expected=KARPATHY_FORMAT)
    captions = []
    for j, sentence in enumerate(sentences):
        raw = require_keys(sentence, ["raw"], where=f"{where}.sentences[{j}]", expected=KARPATHY_FORMAT)["raw"]
        caption = raw.strip().lower() if isinstance(raw, str) else ""
        if not caption:
            raise ValueError(f"{where}.sentences[{j}]: the caption {raw!r} is empty or not a string.")
        captions.append(caption)
    if not captions:
        raise ValueError(f"{where} ({entry['filename']}) has no caption. Expected {KARPATHY_FORMAT}.")
    return tuple(captions)


def read_karpathy_split(karpathy_json: str | os.PathLike, split: str) -> list[KarpathyImage]:
    """The images of one split of a Karpathy file, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: it is not valid JSON, lacks a key, or has no image in ``split`` (the message
            lists the splits it has).
    """
    path = require_file(karpathy_json, what="Karpathy split file", get=f"a file in the format {KARPATHY_FORMAT}")
    data = require_keys(read_json(path, what="Karpathy split file"), ["images"], where=str(path),
                        expected=KARPATHY_FORMAT)
    entries = require_list(data["images"], where=f"{path}: images", expected=KARPATHY_FORMAT)
    images, splits = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: images[{i}]"
        require_keys(entry, ["filename", "split"], where=where, expected=KARPATHY_FORMAT)
        splits.add(str(entry["split"]))
        if entry["split"] != split:
            continue
        require_keys(entry, ["sentences"], where=where, expected=KARPATHY_FORMAT)
        filepath, filename = entry.get("filepath") or None, entry["filename"]
        if not isinstance(filename, str) or not filename or not isinstance(filepath, (str, type(None))):
            raise ValueError(f"{where}: filename must be a file name and filepath a folder name or absent, got "
                             f"{filename!r} and {filepath!r}. Expected {KARPATHY_FORMAT}.")
        images.append(KarpathyImage(filepath, filename, _parse_captions(entry, where)))
    if not images:
        raise ValueError(
            f"{path} has no image in split {split!r}. Splits in it: {', '.join(sorted(splits)) or 'none'}."
        )
    return images


class KarpathyRetrieval(VisionDataset):
    """Images of one Karpathy split with their captions: a retrieval set (COCO 5K, Flickr30K 1K).

    ``dataset[i]`` is image ``i`` (``transform`` applied; a PIL image without one). Implements
    :class:`~avalanche_clip.benchmarks.datasets.RetrievalDataset`.

    Image ``i`` is read from ``images_root/<filepath>/<filename>`` when the entry has a
    ``filepath`` and ``images_root`` holds that subfolder (the COCO root holding ``val2014/``),
    else from ``images_root/<filename>`` (``flickr30k-images/``, or ``val2014/`` itself). Every
    image is checked to exist at construction. An image that cannot be decoded raises
    :class:`~avalanche_clip.benchmarks.datasets.UnreadableImageError` when read: serving another
    image would pair it with the wrong captions.

    Args:
        images_root: the folder of the images (see above).
        karpathy_json: the Karpathy split file.
        split: the split to load (``"test"`` for COCO 5K and Flickr30K 1K).
        transform: applied to each PIL image (e.g. ``clip_eval_transform()``).
        max_captions: keep at most this many captions per image (the first ones), logging how
            many were dropped; None keeps all (a few COCO test images have 6 or 7).

    Attributes:
        captions: every caption, flat, stripped and lower-cased.
        caption_to_image: for each caption, the index of its image.
        image_captions: the captions of each image.
        image_paths: the file of each image.
    """

    def __init__(
        self,
        images_root: str | os.PathLike,
        karpathy_json: str | os.PathLike,
        split: str = "test",
        *,
        transform: Callable[[Any], Any] | None = None,
        max_captions: int | None = None,
    ):
        if max_captions is not None:
            check_positive_int("max_captions", max_captions)
        root = require_dir(images_root, what="images folder",
                           get=f"the folder of the images listed in {karpathy_json}")
        super().__init__(root, transform=transform)
        self.karpathy_json = Path(karpathy_json)
        self.split = split
        images = read_karpathy_split(karpathy_json, split)
        folders = {fp: (root / fp if fp is not None and (root / fp).is_dir() else root)
                   for fp in {image.filepath for image in images}}
        self.image_paths = [folders[image.filepath] / image.filename for image in images]
        check_files_exist(self.image_paths, listed_in=f"{karpathy_json} (split {split!r})",
                          get=f"images_root={str(root)!r} to hold them (or their 'filepath' subfolders)")
        self.image_captions = tuple(image.captions[:max_captions] for image in images)
        dropped = sum(len(image.captions) for image in images) - sum(map(len, self.image_captions))
        if dropped:
            logger.warning("%s split %r: max_captions=%d dropped %d captions.", karpathy_json, split,
                           max_captions, dropped)
        self.captions = [caption for captions in self.image_captions for caption in captions]
        self.caption_to_image = [i for i, captions in enumerate(self.image_captions) for _ in captions]

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> Any:
        image = read_rgb(self.image_paths[index])
        return image if self.transform is None else self.transform(image)

    def extra_repr(self) -> str:
        return (f"Karpathy file: {self.karpathy_json}\nSplit: {self.split}\n"
                f"Captions: {len(self.captions)}")


__all__ = ["KARPATHY_FORMAT", "KarpathyImage", "KarpathyRetrieval", "read_karpathy_split"]
