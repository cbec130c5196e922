"""KarpathyRetrieval on small real files: COCO (with filepath) and Flickr30K (without)."""

import json
import logging

import numpy as np
import pytest

from avalanche_clip.benchmarks.datasets import (
    KarpathyRetrieval,
    RetrievalDataset,
    UnreadableImageError,
    read_karpathy_split,
)
from data_files import COCO_TEST_CAPTIONS, FLICKR_CAPTIONS, coco_file_name, write_coco, write_flickr


@pytest.fixture
def coco(tmp_path):
    return write_coco(tmp_path / "coco")


@pytest.fixture
def flickr(tmp_path):
    return write_flickr(tmp_path / "flickr")


def clean(captions):
    return tuple(c.strip().lower() for c in captions)


def test_coco_test_split_groups_lower_cased_captions_per_image(coco):
    data = KarpathyRetrieval(coco.root, coco.karpathy_json, "test")
    assert isinstance(data, RetrievalDataset) and len(data) == 2
    assert data.image_paths == [coco.image("val", 11), coco.image("val", 12)]
    assert data.image_captions == (clean(COCO_TEST_CAPTIONS[11]), clean(COCO_TEST_CAPTIONS[12]))
    assert data.captions[0] == "a cat sitting on a mat." and data.captions[5] == "bird and dog"
    assert data.captions == list(data.image_captions[0] + data.image_captions[1])
    assert data.caption_to_image == [0] * 5 + [1] * 6


def test_images_are_read_from_the_filepath_subfolder_or_the_root_itself(coco):
    from_folder = KarpathyRetrieval(coco.root / "val2014", coco.karpathy_json)
    assert from_folder.image_paths == [coco.image("val", 11), coco.image("val", 12)]
    image = from_folder[0]
    assert image.size == (64, 48) and image.mode == "RGB"


def test_transform_is_applied_and_max_captions_keeps_the_first_ones(coco, caplog):
    with caplog.at_level(logging.WARNING):
        data = KarpathyRetrieval(coco.root, coco.karpathy_json, transform=np.asarray, max_captions=5)
    assert data[1].shape == (48, 64, 3)
    assert data.image_captions[1] == clean(COCO_TEST_CAPTIONS[12][:5])
    assert data.caption_to_image == [0] * 5 + [1] * 5
    assert "max_captions=5 dropped 1 captions" in caplog.text


def test_flickr_entries_without_filepath_are_read_from_the_root(flickr):
    images, karpathy = flickr
    data = KarpathyRetrieval(images, karpathy)
    assert data.image_paths == [images / name for name in FLICKR_CAPTIONS]  # 300.jpg (train) is not checked
    assert data.image_captions == tuple(clean(c) for c in FLICKR_CAPTIONS.values())
    assert np.asarray(data[1])[0, 0, 0] > np.asarray(data[0])[0, 0, 0]  # the two different images, in order


def test_other_splits_can_be_read(coco):
    assert [image.filename for image in read_karpathy_split(coco.karpathy_json, "train")] == [
        coco_file_name("train", 1), coco_file_name("train", 2)]
    assert KarpathyRetrieval(coco.root, coco.karpathy_json, "restval").image_paths == [coco.image("val", 14)]


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case, error, match", [
    ("missing root", FileNotFoundError, r"images folder .*nowhere' does not exist"),
    ("missing file", FileNotFoundError, r"Karpathy split file .*absent.json' does not exist"),
    ("unknown split", ValueError, r"has no image in split 'tst'. Splits in it: restval, test, train, val"),
    ("image absent", FileNotFoundError, r"1 image\(s\) listed in .*dataset_coco.json \(split 'test'\) are missing"),
    ("malformed", ValueError, r"Karpathy split file .*dataset_coco.json' is not valid JSON"),
    ("no images key", ValueError, r"dataset_coco.json: missing key\(s\) \['images'\]"),
    ("no sentences", ValueError, r"images\[0\]: missing key\(s\) \['sentences'\]"),
    ("no raw", ValueError, r"images\[0\].sentences\[1\]: missing key\(s\) \['raw'\]"),
    ("empty caption", ValueError, r"images\[0\].sentences\[0\]: the caption '  ' is empty"),
    ("bad max_captions", ValueError, r"max_captions must be an integer >= 1, got 0"),
])
def test_bad_input_raises_an_error_naming_the_file(coco, case, error, match):
    root, karpathy, split, kwargs = coco.root, coco.karpathy_json, "test", {}
    if case == "missing root":
        root = coco.root / "nowhere"
    elif case == "missing file":
        karpathy = coco.root / "absent.json"
    elif case == "unknown split":
        split = "tst"
    elif case == "image absent":
        coco.image("val", 12).unlink()
    elif case == "malformed":
        karpathy.write_text("{")
    elif case == "no images key":
        karpathy.write_text('{"annotations": []}')
    elif case == "no sentences":
        edit(karpathy, lambda d: d["images"][0].pop("sentences"))
    elif case == "no raw":
        edit(karpathy, lambda d: d["images"][0]["sentences"][1].pop("raw"))
    elif case == "empty caption":
        edit(karpathy, lambda d: d["images"][0]["sentences"][0].update(raw="  "))
    elif case == "bad max_captions":
        kwargs["max_captions"] = 0
    with pytest.raises(error, match=match):
        KarpathyRetrieval(root, karpathy, split, **kwargs)


def test_an_unreadable_image_raises_naming_it(coco):
    coco.image("val", 12).write_bytes(b"\xff\xd8 broken")
    data = KarpathyRetrieval(coco.root, coco.karpathy_json)
    assert data[0].size == (64, 48)
    with pytest.raises(UnreadableImageError, match="COCO_val2014_000000000012.jpg"):
        data[1]
