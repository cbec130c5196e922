"""COCOCrops on small real COCO files: crops, labels, the Karpathy test filter, the index cache,
bad input and the unreadable-image policy."""

import json
import logging
import os

import numpy as np
import pytest

from avalanche_clip.benchmarks.datasets import COCOCrops, UnreadableImageError
from avalanche_clip.benchmarks.datasets import coco_crops as coco_crops_module
from data_files import (
    CLASS_NAMES,
    KARPATHY_TEST_ANNOTATIONS,
    SIZE,
    TRAIN_ANNOTATIONS,
    VAL_ANNOTATIONS,
    box_of,
    coco_file_name,
    instances,
    write_coco,
    write_json,
)

LABEL = {1: 0, 5: 1, 9: 2}  # category id -> label (COCO order: sorted by id)


@pytest.fixture
def coco(tmp_path):
    return write_coco(tmp_path / "coco")


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


@pytest.fixture
def count_builds(monkeypatch):
    """Count the calls of the (slow) index builder."""
    calls = []
    build = coco_crops_module.build_crop_index

    def counted(*args, **kwargs):
        calls.append(args)
        return build(*args, **kwargs)

    monkeypatch.setattr(coco_crops_module, "build_crop_index", counted)
    return calls


def assert_crop_is(crop, bbox, colour):
    """The crop has the box's size (clipped to the image) and is the box's colour everywhere."""
    left, top, right, bottom = box_of(bbox)
    width, height = min(right, SIZE[0]) - left, min(bottom, SIZE[1]) - top
    assert crop.size == (width, height)
    pixels = np.asarray(crop).astype(int)  # [H, W, 3]
    assert np.abs(pixels - np.array(colour)).max() <= 8


def test_train_crops_are_the_kept_boxes_labelled_in_category_id_order(coco, cache):
    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    kept = [a for a in TRAIN_ANNOTATIONS if a[5] is not None]
    assert crops.class_names == CLASS_NAMES and crops.classes == list(CLASS_NAMES)
    assert crops.class_to_idx == {"cat": 0, "dog": 1, "bird": 2}
    assert len(crops) == len(kept) == 5
    assert crops.targets == [LABEL[a[2]] for a in kept] == [0, 2, 1, 2, 1]
    for i, (_, image_id, category, bbox, _, colour) in enumerate(kept):
        crop, label = crops[i]
        assert label == LABEL[category]
        assert crops.image_path(i) == coco.image("train", image_id)
        assert crops.box(i) == box_of(bbox)
        assert_crop_is(crop, bbox, colour)


def test_fractional_boxes_are_rounded_and_boxes_past_the_image_clipped(coco, cache):
    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    assert crops.box(0) == (10, 9, 31, 21)  # [10.4, 8.6, 20.2, 12.0]
    assert crops.box(4) == (50, 40, 70, 60) and crops[4][0].size == (14, 8)  # image is 64 x 48


def test_min_size_is_a_strict_bound_on_width_and_height(coco, cache):
    assert len(COCOCrops(coco.root, coco.train_json, min_size=3, cache_dir=cache)) == 6  # 4 x 30 kept, 24 x 3 not
    assert len(COCOCrops(coco.root, coco.train_json, min_size=19.9, cache_dir=cache)) == 3
    assert len(COCOCrops(coco.root, coco.train_json, min_size=20, cache_dir=cache)) == 2  # w, h > 20


def test_crowd_boxes_are_kept_unless_include_crowd_is_false(coco, cache):
    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    assert crops.stats["crowd_kept"] == 1 and crops.box(3) == box_of([36, 10, 25, 30])
    no_crowd = COCOCrops(coco.root, coco.train_json, include_crowd=False, cache_dir=cache)
    assert len(no_crowd) == 4 and no_crowd.stats["crowd_dropped"] == 1
    assert box_of([36, 10, 25, 30]) not in [no_crowd.box(i) for i in range(len(no_crowd))]


def test_test_split_keeps_exactly_the_boxes_of_karpathy_test_images(coco, cache):
    crops = COCOCrops(coco.root, coco.val_json, "test", karpathy_json=coco.karpathy_json, cache_dir=cache)
    expected = [a for a in VAL_ANNOTATIONS if a[0] in KARPATHY_TEST_ANNOTATIONS]
    got = [(crops.image_path(i).name, crops.box(i), crops.targets[i]) for i in range(len(crops))]
    assert got == [(coco_file_name("val", a[1]), box_of(a[3]), LABEL[a[2]]) for a in expected]
    assert crops.stats["outside_split"] == 2 and crops.stats["too_small"] == 1
    for i, a in enumerate(expected):
        assert_crop_is(crops[i][0], a[3], a[5])


def test_images_root_may_be_the_coco_root_or_the_images_folder(coco, cache):
    from_root = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    from_folder = COCOCrops(coco.root / "train2014", coco.train_json, cache_dir=cache)
    assert from_root.image_paths == from_folder.image_paths
    assert np.array_equal(np.asarray(from_root[0][0]), np.asarray(from_folder[0][0]))


def test_transform_is_applied_to_the_crop(coco, cache):
    crops = COCOCrops(coco.root, coco.train_json, transform=lambda crop: crop.size, cache_dir=cache)
    assert crops[0] == ((21, 12), 0)


def test_index_is_cached_and_rebuilt_when_a_key_changes(coco, cache, count_builds):
    first = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    again = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    assert len(count_builds) == 1 and again.targets == first.targets
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # no temporary file left behind

    data = json.loads(coco.train_json.read_text())
    data["annotations"] = data["annotations"][:1]
    coco.train_json.write_text(json.dumps(data))  # the file changes: size and mtime
    assert len(COCOCrops(coco.root, coco.train_json, cache_dir=cache)) == 1
    assert len(count_builds) == 2

    stat = coco.train_json.stat()
    os.utime(coco.train_json, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched only
    COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    assert len(count_builds) == 3
    COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    assert len(count_builds) == 3

    COCOCrops(coco.root, coco.train_json, min_size=2, cache_dir=cache)
    COCOCrops(coco.root, coco.train_json, include_crowd=False, cache_dir=cache)
    assert len(count_builds) == 5


def test_test_index_is_rebuilt_when_the_karpathy_file_changes(coco, cache, count_builds):
    COCOCrops(coco.root, coco.val_json, "test", karpathy_json=coco.karpathy_json, cache_dir=cache)
    data = json.loads(coco.karpathy_json.read_text())
    for entry in data["images"]:
        if entry["cocoid"] == 12:
            entry["split"] = "val"
    coco.karpathy_json.write_text(json.dumps(data))
    crops = COCOCrops(coco.root, coco.val_json, "test", karpathy_json=coco.karpathy_json, cache_dir=cache)
    assert len(count_builds) == 2 and len(crops) == 1


def test_an_unreadable_cache_file_is_rebuilt(coco, cache, count_builds, caplog):
    COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    (cache_file,) = cache.iterdir()
    cache_file.write_bytes(b"garbage")
    with caplog.at_level(logging.WARNING):
        assert len(COCOCrops(coco.root, coco.train_json, cache_dir=cache)) == 5
    assert len(count_builds) == 2 and "cannot be read" in caplog.text


def test_default_cache_dir_follows_xdg_cache_home(coco, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    COCOCrops(coco.root, coco.train_json)
    assert len(list((tmp_path / "xdg" / "avalanche-clip").glob("coco_crops_train-*.npz"))) == 1


def rewrite(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case, error, match", [
    ("missing root", FileNotFoundError, r"COCO images folder .*nowhere' does not exist"),
    ("missing instances", FileNotFoundError, r"COCO instances file .*absent.json' does not exist"),
    ("test without karpathy", ValueError, r"split='test' needs karpathy_json"),
    ("train with karpathy", ValueError, r"karpathy_json is only used by split='test'"),
    ("missing karpathy", FileNotFoundError, r"Karpathy split file .*absent_karpathy.json' does not exist"),
    ("bad split", ValueError, r"split='val' is not valid. Available: 'train', 'test'"),
    ("image absent", FileNotFoundError, r"1 image\(s\) listed in .*instances_train2014.json are missing, "
                                        r"e.g. \[.*COCO_train2014_000000000002.jpg"),
    ("no kept box", ValueError, r"instances_train2014.json has no instance box to keep with min_size=100"),
    ("malformed json", ValueError, r"COCO instances file .*instances_train2014.json' is not valid JSON"),
    ("no annotations key", ValueError, r"instances_train2014.json: missing key\(s\) \['annotations'\]"),
    ("annotation without bbox", ValueError, r"annotations\[0\]: missing key\(s\) \['bbox'\]"),
    ("unknown category", ValueError, r"annotations\[0\]: category_id 77 is not in the file's categories"),
    ("unknown image", ValueError, r"annotations\[0\]: image_id 999 is not in the file's images"),
    ("bad bbox", ValueError, r"bbox must be \[x, y, width, height\] numbers"),
    ("karpathy without test", ValueError, r"dataset_coco.json has no image in split 'test'. Splits in it: "
                                          r"restval, train, val"),
    ("karpathy disjoint", ValueError, r"No image of .*instances_val2014.json is in the Karpathy test split"),
    ("negative min_size", ValueError, r"min_size must be a finite number >= 0"),
])
def test_bad_input_raises_an_error_naming_the_file(coco, cache, case, error, match):
    args, kwargs = [coco.root, coco.train_json], dict(cache_dir=cache)
    test_args = dict(split="test", karpathy_json=coco.karpathy_json)
    if case == "missing root":
        args[0] = coco.root / "nowhere"
    elif case == "missing instances":
        args[1] = coco.root / "absent.json"
    elif case == "test without karpathy":
        args[1], kwargs["split"] = coco.val_json, "test"
    elif case == "train with karpathy":
        kwargs["karpathy_json"] = coco.karpathy_json
    elif case == "missing karpathy":
        kwargs.update(split="test", karpathy_json=coco.root / "absent_karpathy.json")
    elif case == "bad split":
        kwargs["split"] = "val"
    elif case == "image absent":
        coco.image("train", 2).unlink()
    elif case == "no kept box":
        kwargs["min_size"] = 100
    elif case == "malformed json":
        coco.train_json.write_text('{"images": [')
    elif case == "no annotations key":
        rewrite(coco.train_json, lambda d: d.pop("annotations"))
    elif case == "annotation without bbox":
        rewrite(coco.train_json, lambda d: d["annotations"][0].pop("bbox"))
    elif case == "unknown category":
        rewrite(coco.train_json, lambda d: d["annotations"][0].update(category_id=77))
    elif case == "unknown image":
        rewrite(coco.train_json, lambda d: d["annotations"][0].update(image_id=999))
    elif case == "bad bbox":
        rewrite(coco.train_json, lambda d: d["annotations"][0].update(bbox=[1, 2, 3]))
    elif case == "karpathy without test":
        rewrite(coco.karpathy_json, lambda d: d.update(images=[e for e in d["images"] if e["split"] != "test"]))
        args[1] = coco.val_json
        kwargs.update(test_args)
    elif case == "karpathy disjoint":
        write_json(coco.val_json, instances("val", [(1, 99, 1, [1, 1, 10, 10], 0, None)]))
        args[1] = coco.val_json
        kwargs.update(test_args)
    elif case == "negative min_size":
        kwargs["min_size"] = -1
    with pytest.raises(error, match=match):
        COCOCrops(*args, **kwargs)


def test_an_unreadable_image_is_skipped_for_a_readable_one_of_the_same_class(coco, cache, caplog):
    coco.image("train", 2).write_bytes(b"not a jpeg")  # boxes 104 (dog), 106 (bird), 107 (dog)
    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache)
    with caplog.at_level(logging.WARNING):
        crop, label = crops[3]  # bird box 106, in the broken image: served by bird box 103
        assert label == 2
        assert_crop_is(crop, TRAIN_ANNOTATIONS[2][3], TRAIN_ANNOTATIONS[2][5])
        assert crops[0][1] == 0  # readable samples are untouched
    assert crops.unreadable == {str(coco.image("train", 2))}
    assert caplog.text.count("skipping an unreadable image") == 1 and "(1 so far" in caplog.text
    with pytest.raises(OSError, match=r"no image of class 1 can be decoded"):
        crops[2]  # both dogs are in the broken image


def test_on_error_raise_names_the_unreadable_file(coco, cache):
    coco.image("train", 2).write_bytes(b"not a jpeg")
    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache, on_error="raise")
    with pytest.raises(UnreadableImageError, match=r"Cannot decode the image .*COCO_train2014_000000000002.jpg"):
        crops[3]
    with pytest.raises(ValueError, match=r"on_error='ignore' is not valid. Available: 'skip', 'raise'"):
        COCOCrops(coco.root, coco.train_json, cache_dir=cache, on_error="ignore")


def test_a_truncated_image_is_unreadable(coco, cache):
    path = coco.image("train", 1)
    path.write_bytes(path.read_bytes()[:200])
    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache, on_error="raise")
    with pytest.raises(UnreadableImageError, match="COCO_train2014_000000000001.jpg"):
        crops[0]


def test_crops_load_in_dataloader_workers(coco, cache):
    from torch.utils.data import DataLoader

    crops = COCOCrops(coco.root, coco.train_json, cache_dir=cache, transform=lambda crop: crop.size[0])
    batches = list(DataLoader(crops, batch_size=5, num_workers=1))
    assert batches[0][0].tolist() == [21, 20, 30, 25, 14] and batches[0][1].tolist() == crops.targets
