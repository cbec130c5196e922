"""Small real data files for the loader tests: COCO images and instances, Karpathy splits,
an image folder and a JSON list, written with PIL and json into a temporary folder.

Every kept box is painted in its own colour, so a test recognises which box a crop was cut from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = (64, 48)  # width, height of every COCO image
BACKGROUND = (128, 128, 128)

# COCO category ids are not contiguous and not listed in id order: labels follow the id order.
CATEGORIES = [{"id": 9, "name": "bird"}, {"id": 1, "name": "cat"}, {"id": 5, "name": "dog"}]
CLASS_NAMES = ("cat", "dog", "bird")

# (annotation id, image id, category id, bbox, iscrowd, colour or None when dropped by min_size=4)
TRAIN_ANNOTATIONS = [
    (101, 1, 1, [10.4, 8.6, 20.2, 12.0], 0, (255, 0, 0)),  # cut at (10, 9, 31, 21)
    (102, 1, 5, [40, 5, 4, 30], 0, None),                  # width 4: not > 4
    (103, 1, 9, [40, 30, 20, 10], 0, (0, 0, 255)),
    (104, 2, 5, [2, 2, 30, 40], 0, (0, 255, 0)),
    (105, 2, 1, [36, 4, 24, 3], 0, None),                  # height 3
    (106, 2, 9, [36, 10, 25, 30], 1, (255, 255, 0)),       # a crowd box
    (107, 2, 5, [50, 40, 20, 20], 0, (0, 255, 255)),       # runs past the image: clipped
]
VAL_ANNOTATIONS = [
    (201, 11, 1, [5, 5, 20, 20], 0, (255, 0, 0)),
    (202, 11, 5, [30, 5, 3, 20], 0, None),
    (203, 12, 9, [5, 5, 30, 30], 0, (0, 0, 255)),
    (204, 12, 5, [40, 10, 20, 20], 0, (0, 255, 0)),
    (205, 13, 1, [5, 5, 20, 20], 0, (255, 0, 255)),        # image in the Karpathy val split
    (206, 14, 5, [5, 5, 20, 20], 0, (255, 0, 255)),        # image in restval
]
KARPATHY_TEST_ANNOTATIONS = [201, 203, 204]
KARPATHY_SPLITS = {11: "test", 12: "test", 13: "val", 14: "restval", 1: "train", 2: "train"}
COCO_TEST_CAPTIONS = {
    11: ["  A Cat sitting ON a mat. ", "a cat.", "A CAT", "cat on mat", "The Cat"],
    12: ["Bird and Dog", "a bird", "a dog", "two animals", "Outside.", "a sixth caption"],
}


def coco_file_name(split: str, image_id: int) -> str:
    return f"COCO_{split}2014_{image_id:012d}.jpg"


def box_of(bbox) -> tuple[int, int, int, int]:
    x, y, w, h = bbox
    return round(x), round(y), round(x + w), round(y + h)


def write_image(path: Path, boxes=(), size=SIZE, background=BACKGROUND) -> None:
    """A JPEG (near lossless) with each ``(box, colour)`` painted."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    for (left, top, right, bottom), colour in boxes:
        draw.rectangle([left, top, right - 1, bottom - 1], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=100, subsampling=0)


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def instances(split: str, annotations) -> dict:
    image_ids = sorted({a[1] for a in annotations})
    return {
        "images": [{"id": i, "file_name": coco_file_name(split, i), "width": SIZE[0], "height": SIZE[1]}
                   for i in image_ids],
        "annotations": [{"id": a, "image_id": i, "category_id": c, "bbox": b, "iscrowd": crowd}
                        for a, i, c, b, crowd, _ in annotations],
        "categories": CATEGORIES,
    }


def karpathy_coco() -> dict:
    images = []
    for image_id, split in KARPATHY_SPLITS.items():
        folder = "train" if split == "train" else "val"
        captions = COCO_TEST_CAPTIONS.get(image_id, [f"image {image_id}"] * 5)
        images.append({"filepath": f"{folder}2014", "filename": coco_file_name(folder, image_id),
                       "cocoid": image_id, "split": split, "sentences": [{"raw": c} for c in captions]})
    return {"dataset": "coco", "images": images}


@dataclass
class CocoFiles:
    root: Path
    train_json: Path
    val_json: Path
    karpathy_json: Path

    def image(self, split: str, image_id: int) -> Path:
        return self.root / f"{split}2014" / coco_file_name(split, image_id)


def write_coco(root: Path) -> CocoFiles:
    """A COCO root: train2014/, val2014/, annotations/instances_*2014.json, dataset_coco.json."""
    for split, split_annotations in (("train", TRAIN_ANNOTATIONS), ("val", VAL_ANNOTATIONS)):
        for image_id in sorted({a[1] for a in split_annotations}):
            boxes = [(box_of(a[3]), a[5]) for a in split_annotations if a[1] == image_id and a[5] is not None]
            write_image(root / f"{split}2014" / coco_file_name(split, image_id), boxes)
    return CocoFiles(
        root=root,
        train_json=write_json(root / "annotations" / "instances_train2014.json", instances("train", TRAIN_ANNOTATIONS)),
        val_json=write_json(root / "annotations" / "instances_val2014.json", instances("val", VAL_ANNOTATIONS)),
        karpathy_json=write_json(root / "dataset_coco.json", karpathy_coco()),
    )


FLICKR_CAPTIONS = {"100.jpg": ["A Man.", "a man", "man", "MAN", "a person"],
                   "200.jpg": ["Dogs", "dogs run", "two dogs", "a dog", "Dog park"]}


def write_flickr(root: Path) -> tuple[Path, Path]:
    """``(images folder, dataset_flickr30k.json)``: 2 test images, and a train entry without a file."""
    images = root / "flickr30k-images"
    for i, name in enumerate(FLICKR_CAPTIONS):
        write_image(images / name, background=(10 + 100 * i, 10, 10))
    entries = [{"filename": name, "split": "test", "sentences": [{"raw": c} for c in captions]}
               for name, captions in FLICKR_CAPTIONS.items()]
    entries.append({"filename": "300.jpg", "split": "train", "sentences": [{"raw": "absent"}]})
    return images, write_json(root / "dataset_flickr30k.json", {"images": entries})


def write_folder(root: Path) -> Path:
    """An ImageFolder layout: n02/ (3 images), n01/ (2 images), and a stray text file."""
    for folder, count in (("n02", 3), ("n01", 2)):
        for i in range(count):
            write_image(root / folder / f"{i}.jpg", size=(20, 20))
    (root / "n01" / "notes.txt").write_text("not an image")
    return root


def write_json_list(root: Path) -> Path:
    """A few-shot JSON list: 3 label names, images of labels 0 and 2 only."""
    for name in ("a.jpg", "b.jpg", "sub/c.jpg"):
        write_image(root / "images" / name, size=(20, 20))
    return write_json(root / "novel.json", {
        "label_names": ["apple", "banana", "cherry"],
        "image_names": ["images/a.jpg", "images/b.jpg", "images/sub/c.jpg"],
        "image_labels": [2, 0, 2],
    })
