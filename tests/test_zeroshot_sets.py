"""Zero-shot sets from an image folder, a JSON list and torchvision datasets; template sets; specs."""

import json
import logging

import numpy as np
import pytest
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES
import torch
from torch.utils.data import Dataset, TensorDataset

from avalanche_clip.benchmarks.datasets import (
    TorchvisionZeroShot,
    UnreadableImageError,
    ZeroShotDataset,
    ZeroShotImages,
    list_template_sets,
    load_template_set,
    resolve_templates,
    torchvision_zeroshot,
    zeroshot_dataset,
)
from data_files import write_folder, write_json_list

PAPER = ("this is a photo of {} .",)


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "zs")


@pytest.fixture
def json_list(tmp_path):
    return write_json_list(tmp_path / "fewshot")


def test_template_sets_are_listed_and_the_imagenet_ones_are_openclips():
    assert {"paper", "openai_imagenet", "simple_imagenet"} <= set(list_template_sets())
    assert load_template_set("paper") == PAPER
    assert load_template_set("openai_imagenet") == tuple(t("{}") for t in OPENAI_IMAGENET_TEMPLATES)
    assert len(load_template_set("openai_imagenet")) == 80
    assert load_template_set("simple_imagenet") == tuple(t("{}") for t in SIMPLE_IMAGENET_TEMPLATES)


def test_templates_resolve_from_a_name_a_file_one_template_or_a_list(tmp_path):
    own = tmp_path / "mine.json"
    own.write_text(json.dumps({"description": "mine", "templates": ["a {} here", "the {} there"]}))
    assert resolve_templates("paper") == PAPER
    assert resolve_templates(str(own)) == ("a {} here", "the {} there")
    assert resolve_templates("a sketch of {}") == ("a sketch of {}",)
    assert resolve_templates(["x {}", "y {}"]) == ("x {}", "y {}")
    with pytest.raises(ValueError, match=r"Unknown template set 'papr'. Closest: paper. Available: "):
        resolve_templates("papr")
    own.write_text(json.dumps({"templates": ["no slot"]}))
    with pytest.raises(ValueError, match=r"mine.json: Each prompt template must contain exactly one"):
        resolve_templates(str(own))


def test_image_folder_classes_are_the_sorted_folders(folder):
    data = ZeroShotImages.from_folder(folder, transform=np.asarray)
    assert isinstance(data, ZeroShotDataset)
    assert data.classes == ["n01", "n02"] and data.templates == PAPER
    assert data.targets == [0, 0, 1, 1, 1]  # notes.txt is not an image
    assert [p.relative_to(folder).as_posix() for p in data.image_paths] == [
        "n01/0.jpg", "n01/1.jpg", "n02/0.jpg", "n02/1.jpg", "n02/2.jpg"]
    image, label = data[2]
    assert image.shape == (20, 20, 3) and label == 1


def test_image_folder_class_names_from_a_mapping_or_a_list(folder):
    mapped = ZeroShotImages.from_folder(folder, class_names={"n02": "tiger", "n01": "goldfish"},
                                        templates="simple_imagenet")
    assert mapped.classes == ["goldfish", "tiger"] and len(mapped.templates) == 7
    assert ZeroShotImages.from_folder(folder, class_names=["a", "b"]).classes == ["a", "b"]
    with pytest.raises(ValueError, match=r"class_names has no name for the folders \['n02'\]"):
        ZeroShotImages.from_folder(folder, class_names={"n01": "goldfish"})
    with pytest.raises(ValueError, match=r"class_names has 3 names but .* has 2 class folders"):
        ZeroShotImages.from_folder(folder, class_names=["a", "b", "c"])


def test_json_list_resolves_names_and_drops_classes_without_images(json_list, caplog):
    with caplog.at_level(logging.WARNING):
        data = ZeroShotImages.from_json(json_list)
    assert data.classes == ["apple", "cherry"] and data.targets == [1, 0, 1]
    assert data.image_paths[2] == json_list.parent / "images" / "sub" / "c.jpg"
    assert "1 of its 3 label_names have no image" in caplog.text
    kept = ZeroShotImages.from_json(json_list, keep_unused_classes=True)
    assert kept.classes == ["apple", "banana", "cherry"] and kept.targets == [2, 0, 2]
    moved = ZeroShotImages.from_json(json_list, images_root=json_list.parent / "images" / "..")
    assert [p.resolve() for p in moved.image_paths] == [p.resolve() for p in data.image_paths]
    assert data[0][1] == 1 and data[0][0].size == (20, 20)


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case, error, match", [
    ("missing file", FileNotFoundError, r"zero-shot JSON list .*absent.json' does not exist"),
    ("missing key", ValueError, r"novel.json: missing key\(s\) \['label_names'\]"),
    ("label out of range", ValueError, r"novel.json: labels \[7\] are outside 0..2"),
    ("length mismatch", ValueError, r"novel.json: 3 images but 2 labels"),
    ("non-integer label", ValueError, r"image_labels must be integers"),
    ("image absent", FileNotFoundError, r"1 image\(s\) listed in .*novel.json are missing, e.g. \[.*b.jpg"),
    ("duplicate names", ValueError, r"class_names has duplicates \['apple'\]"),
    ("missing images_root", FileNotFoundError, r"images folder .*nowhere' does not exist"),
])
def test_bad_json_list_raises_an_error_naming_the_file(json_list, case, error, match):
    path, kwargs = json_list, {}
    if case == "missing file":
        path = json_list.parent / "absent.json"
    elif case == "missing key":
        edit(json_list, lambda d: d.pop("label_names"))
    elif case == "label out of range":
        edit(json_list, lambda d: d.update(image_labels=[7, 0, 2]))
    elif case == "length mismatch":
        edit(json_list, lambda d: d.update(image_labels=[0, 2]))
    elif case == "non-integer label":
        edit(json_list, lambda d: d.update(image_labels=["0", 0, 2]))
    elif case == "image absent":
        (json_list.parent / "images" / "b.jpg").unlink()
    elif case == "duplicate names":
        edit(json_list, lambda d: d.update(label_names=["apple", "x", "apple"]))
    elif case == "missing images_root":
        kwargs["images_root"] = json_list.parent / "nowhere"
    with pytest.raises(error, match=match):
        ZeroShotImages.from_json(path, **kwargs)


def test_bad_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"image folder .*nowhere' does not exist"):
        ZeroShotImages.from_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder"):
        ZeroShotImages.from_folder(tmp_path / "empty")


def test_unreadable_image_policy(folder, caplog):
    (folder / "n02" / "1.jpg").write_bytes(b"corrupt")
    data = ZeroShotImages.from_folder(folder, transform=np.asarray)
    with caplog.at_level(logging.WARNING):
        image, label = data[3]  # served by n02/2.jpg
    assert label == 1 and image.shape == (20, 20, 3)
    assert data.unreadable == {str(folder / "n02" / "1.jpg")} and "1 so far" in caplog.text
    strict = ZeroShotImages.from_folder(folder, on_error="raise")
    with pytest.raises(UnreadableImageError, match=r"n02/1.jpg"):
        strict[3]


class Synonyms(Dataset):
    """A stand-in for torchvision's ImageNet: classes are tuples of synonyms."""

    def __init__(self, classes):
        self.classes = classes
        self.targets = [0, 1]

    def __len__(self):
        return 2

    def __getitem__(self, index):
        return f"image {index}", self.targets[index]


def test_torchvision_wrapper_takes_first_synonyms_and_keeps_items():
    data = TorchvisionZeroShot(Synonyms([("tench", "Tinca tinca"), ("goldfish",)]), templates="openai_imagenet")
    assert isinstance(data, ZeroShotDataset)
    assert data.classes == ["tench", "goldfish"] and len(data.templates) == 80
    assert len(data) == 2 and data[1] == ("image 1", 1) and data.targets == [0, 1]
    assert TorchvisionZeroShot(Synonyms(["a", "b"]), classes=["x", "y"]).classes == ["x", "y"]
    with pytest.raises(ValueError, match=r"Synonyms: class_names has duplicates \['crane'\].*Pass classes="):
        TorchvisionZeroShot(Synonyms([("crane",), ("crane", "derrick")]))
    with pytest.raises(ValueError, match=r"has no .classes: pass classes="):
        TorchvisionZeroShot(TensorDataset(torch.zeros(2, 3), torch.zeros(2)))


def test_torchvision_dataset_by_name(folder):
    data = torchvision_zeroshot("ImageFolder", folder, transform=np.asarray)
    assert data.classes == ["n01", "n02"] and data.targets == [0, 0, 1, 1, 1]
    assert data[4][0].shape == (20, 20, 3)
    with pytest.raises(ValueError, match=r"Unknown torchvision dataset 'CIFAR1000'. Closest: CIFAR100"):
        torchvision_zeroshot("CIFAR1000", folder)
    with pytest.raises(ValueError, match=r"torchvision ImageFolder: .*unexpected keyword.*Its arguments: root"):
        torchvision_zeroshot("ImageFolder", folder, train=False)
    with pytest.raises(FileNotFoundError, match=r"CIFAR100 root folder .*nowhere' does not exist"):
        torchvision_zeroshot("CIFAR100", folder / "nowhere", train=False)


def test_specs_build_every_kind(folder, json_list):
    folder_set = zeroshot_dataset({"kind": "folder", "root": str(folder), "templates": "simple_imagenet"},
                                  transform=np.asarray)
    assert folder_set.classes == ["n01", "n02"] and len(folder_set.templates) == 7
    assert folder_set[0][0].shape == (20, 20, 3)
    json_set = zeroshot_dataset({"kind": "json", "path": str(json_list), "keep_unused_classes": True})
    assert json_set.classes == ["apple", "banana", "cherry"]
    tv_set = zeroshot_dataset({"kind": "torchvision", "name": "ImageFolder", "root": str(folder),
                               "classes": ["fish", "cat"]})
    assert tv_set.classes == ["fish", "cat"] and tv_set.templates == PAPER


@pytest.mark.parametrize("spec, match", [
    ({"root": "x"}, r"must be a mapping with a 'kind' \(folder, json, torchvision\)"),
    ({"kind": "imagefolder", "root": "x"},
     r"Unknown zero-shot set kind 'imagefolder'. Closest: folder. Available: folder, json, torchvision"),
    ({"kind": "folder", "path": "x"}, r"unknown keys \['path'\], missing keys \['root'\]. Keys of kind 'folder': "
                                      r"root, class_names, templates, on_error"),
    ({"kind": "json", "path": "x", "transform": None}, r"unknown keys \['transform'\]"),
    ({"kind": "torchvision", "root": "x"}, r"missing keys \['name'\].*and the dataset class arguments"),
])
def test_bad_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        zeroshot_dataset(spec)

