"""The 11 MTIL datasets built from small files in torchvision's on-disk layout (no download).

Every image's width (CIFAR's and MNIST's pixel value) identifies its file, so each test checks
that the sample read from a given file carries the class name that file belongs to.
"""

from __future__ import annotations

import pytest
import torch
import torchvision.datasets as tvd

import mtil_files as files
from avalanche_clip.benchmarks.datasets import (
    MTIL_DATASETS,
    load_mtil_vocabulary,
    mtil_task,
    mtil_tasks,
)


def read(task, split: str = "train", *, by_pixel: bool = False) -> dict[int, str]:
    """``{file id: class name}`` of every sample of ``task``'s ``split``; each image must come out RGB."""
    split, result = getattr(task, split), {}
    for image, label in split:
        assert image.mode == "RGB"
        key = image.getpixel((0, 0))[0] if by_pixel else image.size[0]
        assert key not in result
        result[key] = task.class_names[label]
    assert split.targets == [label for _, label in split]
    return result


def build(name, root, **kwargs):
    task = mtil_task(name, root, **kwargs)
    assert task.name == name
    return task


def expected_random_split(ids_in_order: list[int]) -> tuple[set[int], set[int]]:
    """ZSCL's split written out: a permutation from a generator seeded 42, first 80 % train."""
    order = torch.randperm(len(ids_in_order), generator=torch.Generator().manual_seed(42)).tolist()
    cut = int(0.8 * len(ids_in_order))
    return {ids_in_order[i] for i in order[:cut]}, {ids_in_order[i] for i in order[cut:]}


def test_aircraft_uses_train_and_test_not_trainval(tmp_path):
    files.write_aircraft(tmp_path, train=[("707-320", 10), ("Cessna 172", 11), ("Yak-42", 12)],
                         test=[("Cessna 172", 13), ("F/A-18", 14)])
    task = build("Aircraft", tmp_path)
    assert read(task) == {10: "707-320", 11: "Cessna 172", 12: "Yak-42"}
    assert read(task, "test") == {13: "Cessna 172", 14: "F/A-18"}
    assert len(task.class_names) == 100 and task.templates[0] == "a photo of a {}, a type of aircraft."


def test_caltech101_is_split_80_20_with_seed_42_and_grey_images_come_out_rgb(tmp_path):
    samples = [("Faces_easy", w) for w in range(10, 15)] + [("yin_yang", w) for w in range(15, 20)]
    files.write_caltech101(tmp_path, samples, grey=frozenset({15, 16}))
    task = build("Caltech101", tmp_path)
    train, test = read(task), read(task, "test")
    assert (len(train), len(test)) == (8, 2)
    assert (set(train), set(test)) == expected_random_split(list(range(10, 20)))
    names = {**train, **test}
    assert all(names[w] == "centered face" for w in range(10, 15))  # folder Faces_easy
    assert all(names[w] == "yin and yang symbol" for w in range(15, 20))
    assert len(task.class_names) == 101 and "background" not in task.class_names


def test_caltech101_other_seed_gives_another_split(tmp_path):
    files.write_caltech101(tmp_path, [("ant", w) for w in range(10, 30)])
    assert set(read(build("Caltech101", tmp_path), "test")) != set(read(build("Caltech101", tmp_path, split_seed=7),
                                                                         "test"))


def test_cifar100(tmp_path, monkeypatch):
    md5 = files.write_cifar100(tmp_path, train=[("aquarium_fish", 10), ("willow_tree", 20), ("apple", 30)],
                               test=[("sweet_pepper", 40)])
    monkeypatch.setattr(tvd.CIFAR100, "train_list", [["train", md5["train"]]])
    monkeypatch.setattr(tvd.CIFAR100, "test_list", [["test", md5["test"]]])
    monkeypatch.setattr(tvd.CIFAR100, "meta", {**tvd.CIFAR100.meta, "md5": md5["meta"]})
    task = build("CIFAR100", tmp_path)
    assert read(task, by_pixel=True) == {10: "aquarium fish", 20: "willow tree", 30: "apple"}
    assert read(task, "test", by_pixel=True) == {40: "sweet pepper"}
    assert len(task.templates) == 18


def test_dtd_maps_by_name_when_a_split_lacks_classes(tmp_path):
    """torchvision numbers DTD's classes from the split file: the test split's only class is its label 0."""
    files.write_dtd(tmp_path, train=[("banded", 10), ("zigzagged", 11), ("polka-dotted", 12)],
                    test=[("zigzagged", 13)])
    task = build("DTD", tmp_path)
    assert read(task) == {10: "banded", 11: "zigzagged", 12: "polka-dotted"}
    assert read(task, "test") == {13: "zigzagged"}
    assert task.test.targets == [46]


def test_eurosat_names_follow_the_folders_and_split_80_20(tmp_path):
    folders = ["AnnualCrop", "Forest", "HerbaceousVegetation", "Highway", "Industrial", "Pasture", "PermanentCrop",
               "Residential", "River", "SeaLake"]
    files.write_eurosat(tmp_path, [(folder, 10 + 2 * i + k) for i, folder in enumerate(folders) for k in (0, 1)])
    task = build("EuroSAT", tmp_path)
    train, test = read(task), read(task, "test")
    assert (set(train), set(test)) == expected_random_split(list(range(10, 30)))
    names = {**train, **test}
    assert names[10] == names[11] == "annual crop land"
    assert names[14] == "brushland or shrubland"  # HerbaceousVegetation
    assert names[28] == names[29] == "lake or sea"  # SeaLake
    assert names[26] == "river"


def test_flowers_maps_label_numbers_to_zscl_names(tmp_path, monkeypatch):
    md5 = files.write_flowers(tmp_path, train=[("1", 10), ("93", 11), ("102", 12)], test=[("60", 13), ("16", 14)],
                              val=[("5", 15), ("5", 16)])
    monkeypatch.setattr(tvd.Flowers102, "_file_dict", {"image": ("102flowers.tgz", None),
                                                       "label": ("imagelabels.mat", md5["imagelabels.mat"]),
                                                       "setid": ("setid.mat", md5["setid.mat"])})
    task = build("Flowers", tmp_path)
    assert read(task) == {10: "pink primrose", 11: "ball moss", 12: "blackberry lily"}
    assert read(task, "test") == {13: "pink-yellow dahlia", 14: "globe-flower"}


def test_flowers_with_other_files_is_refused_naming_the_layout(tmp_path):
    files.write_flowers(tmp_path, train=[("1", 10), ("2", 11)], test=[("1", 12), ("2", 13)], val=[("1", 14), ("2", 15)])
    with pytest.raises(RuntimeError, match=r"Flowers102 refused the files .*flowers-102/setid\.mat"):
        mtil_task("Flowers", tmp_path)  # the checksums of the real .mat files differ


def test_food(tmp_path):
    files.write_food(tmp_path, train=[("apple_pie", 10), ("waffles", 11)],
                     test=[("hot_and_sour_soup", 12), ("apple_pie", 13)])
    task = build("Food", tmp_path)
    assert read(task) == {10: "apple pie", 11: "waffles"}
    assert read(task, "test") == {12: "hot and sour soup", 13: "apple pie"}
    assert task.templates == ("a photo of a {}, a type of food.",)


def test_mnist_grey_digits_come_out_rgb(tmp_path):
    files.write_mnist(tmp_path, train=[(3, 10), (0, 20), (9, 30), (1, 40)], test=[(7, 50), (3, 60)])
    task = build("MNIST", tmp_path)
    assert read(task, by_pixel=True) == {10: "3 - three", 20: "0 - zero", 30: "9 - nine", 40: "1 - one"}
    assert read(task, "test", by_pixel=True) == {50: "7 - seven", 60: "3 - three"}
    image, _ = task.train[0]
    assert image.size == (28, 28) and image.getpixel((5, 5)) == (10, 10, 10)


def test_oxford_pet_uses_trainval_and_test(tmp_path):
    breeds = files.PET_BREEDS
    files.write_pets(tmp_path, train=[(b, i + 1, 10 + i) for i, b in enumerate(breeds)],
                     test=[(b, i + 1, 60 + i) for i, b in enumerate(breeds)])
    task = build("OxfordPet", tmp_path)
    train, test = read(task), read(task, "test")
    assert (len(train), len(test)) == (37, 37)
    assert all(train[10 + i] == test[60 + i] and train[10 + i].lower().replace(" ", "_") == b.lower()
               for i, b in enumerate(breeds))
    assert (train[11], train[19], train[46]) == ("American Bulldog", "British Shorthair", "Yorkshire Terrier")


def test_stanford_cars(tmp_path):
    files.write_cars(tmp_path, train=[(1, 10), (174, 11), (196, 12)], test=[(174, 13), (2, 14)])
    task = build("StanfordCars", tmp_path)
    assert read(task) == {10: "AM General Hummer SUV 2000", 11: "Ram C/V Cargo Van Minivan 2012",
                                12: "smart fortwo Convertible 2012"}
    assert read(task, "test") == {13: "Ram C/V Cargo Van Minivan 2012", 14: "Acura RL Sedan 2012"}
    assert len(task.templates) == 9


SUN_CLASSES = ["abbey", "apartment_building/outdoor", "jail/indoor", "jail_cell", "youth_hostel"]


def test_sun397_is_split_80_20_over_the_files_in_path_order(tmp_path):
    """Widths grow in path order (``jail/indoor`` sorts before ``jail_cell``), whatever rglob's order."""
    files.write_sun397(tmp_path, [(c, 10 + 2 * i + k) for i, c in enumerate(SUN_CLASSES) for k in (0, 1)])
    task = build("SUN397", tmp_path)
    train, test = read(task), read(task, "test")
    assert (set(train), set(test)) == expected_random_split(list(range(10, 20)))
    names = {**train, **test}
    assert [names[w] for w in range(10, 20, 2)] == ["abbey", "apartment building/outdoor", "jail/indoor",
                                                    "jail cell", "youth hostel"]
    assert len(task.class_names) == 397


def test_a_class_the_vocabulary_does_not_know_is_refused(tmp_path):
    files.write_sun397(tmp_path, [("abbey", 10)])
    with open(tmp_path / "SUN397" / "ClassName.txt", "a") as class_file:
        class_file.write("/z/zoo_of_unknowns\n")
    with pytest.raises(ValueError, match="zoo_of_unknowns"):
        mtil_task("SUN397", tmp_path)


EXPECTED_PATH = {
    "Aircraft": ("FGVCAircraft", "fgvc-aircraft-2013b/data/variants.txt"),
    "Caltech101": ("Caltech101", "caltech101/101_ObjectCategories"),
    "CIFAR100": ("CIFAR100", "cifar-100-python/train"),
    "DTD": ("DTD", "dtd/dtd/labels/train1.txt"),
    "EuroSAT": ("EuroSAT", "eurosat/2750"),
    "Flowers": ("Flowers102", "flowers-102/jpg"),
    "Food": ("Food101", "food-101/meta/train.json"),
    "MNIST": ("MNIST", "MNIST/raw/train-images-idx3-ubyte"),
    "OxfordPet": ("OxfordIIITPet", "oxford-iiit-pet/images"),
    "StanfordCars": ("StanfordCars", "stanford_cars/devkit/cars_meta.mat"),
    "SUN397": ("SUN397", "SUN397/ClassName.txt"),
}


@pytest.mark.parametrize("name", MTIL_DATASETS)
def test_missing_files_name_the_path_the_layout_and_the_source(tmp_path, name):
    torchvision_class, first_path = EXPECTED_PATH[name]
    with pytest.raises(FileNotFoundError) as error:
        mtil_task(name, tmp_path)
    message = str(error.value)
    assert repr(str(tmp_path / first_path)) in message
    assert f"torchvision's {torchvision_class} reads" in message and "Get the files from " in message
    assert list(tmp_path.iterdir()) == []  # nothing created (torchvision's Caltech101 would make its folder)


def test_a_partly_missing_layout_names_the_missing_file(tmp_path):
    files.write_cars(tmp_path, train=[(1, 10), (2, 11)], test=[(1, 12), (2, 13)])
    (tmp_path / "stanford_cars" / "cars_test_annos_withlabels.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"cars_test_annos_withlabels\.mat' does not exist \(1 of its 5"):
        mtil_task("StanfordCars", tmp_path)


def test_an_incomplete_pets_split_is_refused(tmp_path):
    """torchvision's OxfordIIITPet names only the breeds a split file holds but keeps their class ids."""
    files.write_pets(tmp_path, train=[("beagle", 5, 10), ("boxer", 9, 11)], test=[("beagle", 5, 12)])
    with pytest.raises(ValueError, match=r"gives labels \[4, 8\] that its class list does not name"):
        mtil_task("OxfordPet", tmp_path)


def test_mtil_tasks_checks_every_dataset_before_reading_any(tmp_path):
    files.write_mnist(tmp_path, train=[(1, 10), (2, 20)], test=[(1, 30), (2, 40)])
    files.write_food(tmp_path, train=[("pho", 10), ("pho", 11)], test=[("pho", 12), ("pho", 13)])
    tasks = mtil_tasks(tmp_path, names=["Food", "MNIST"])
    assert [t.name for t in tasks] == ["Food", "MNIST"]
    with pytest.raises(FileNotFoundError, match="MTIL dataset DTD"):
        mtil_tasks(tmp_path, names=["MNIST", "DTD"])
    with pytest.raises(ValueError, match="Unknown MTIL dataset 'Flower'.*Available: Aircraft, CIFAR100"):
        mtil_tasks(tmp_path, names=["MNIST", "Flower"])
    with pytest.raises(ValueError, match=r"\['MNIST'\] more than once"):
        mtil_tasks(tmp_path, names=["MNIST", "MNIST"])


def test_the_vocabularies_have_the_published_sizes():
    sizes = {name: len(load_mtil_vocabulary(name).class_names) for name in MTIL_DATASETS}
    assert sizes == {"Aircraft": 100, "Caltech101": 101, "CIFAR100": 100, "DTD": 47, "EuroSAT": 10, "Flowers": 102,
                     "Food": 101, "MNIST": 10, "OxfordPet": 37, "StanfordCars": 196, "SUN397": 397}


def test_the_flowers_names_agree_with_torchvisions_list():
    """torchvision's own Flowers102.classes, an independent copy, differs only by its '?'."""
    ours = load_mtil_vocabulary("Flowers").class_names
    differ = [(i, a, b) for i, (a, b) in enumerate(zip(ours, tvd.Flowers102.classes)) if a != b]
    assert differ == [(59, "pink-yellow dahlia", "pink-yellow dahlia?")]


def test_labels_follow_the_class_names_whatever_order_the_files_list_them_in(tmp_path):
    """A ClassName.txt in reverse order renumbers torchvision's labels, not the task's."""
    files.write_sun397(tmp_path, [("abbey", 10), ("jail_cell", 11), ("youth_hostel", 12), ("abbey", 13),
                                  ("pub/indoor", 14)])
    class_file = tmp_path / "SUN397" / "ClassName.txt"
    class_file.write_text("".join(reversed(class_file.read_text().splitlines(keepends=True))))
    task = build("SUN397", tmp_path)
    names = {**read(task), **read(task, "test")}
    assert names == {10: "abbey", 11: "jail cell", 12: "youth hostel", 13: "abbey", 14: "pub/indoor"}
    # the canonical ClassName.txt lines 1, 208, 290 and 397
    assert sorted({*task.train.targets, *task.test.targets}) == [0, 207, 289, 396]


def test_the_data_source_builds_the_tasks_with_the_models_transforms(tmp_path, make_model):
    """``MTILDatasets`` (the ``data`` group of a real MTIL run) needs the protocol's MTILSource."""
    pytest.importorskip("avalanche_clip.benchmarks.mtil")
    from avalanche_clip.benchmarks.real_mtil import MTILDatasets

    files.write_mnist(tmp_path, train=[(1, 10), (2, 20)], test=[(1, 30), (2, 40)])
    files.write_food(tmp_path, train=[("pho", 10), ("ramen", 11)], test=[("pho", 12), ("ramen", 13)])
    with pytest.raises(ValueError, match="Unknown MTIL dataset 'Foods'"):
        MTILDatasets(root=str(tmp_path), names=("MNIST", "Foods"))
    model = make_model()
    data = MTILDatasets(root=str(tmp_path), names=("MNIST", "Food")).build(model)
    assert [task.name for task in data.tasks] == ["MNIST", "Food"]
    image = data.eval_transform(data.tasks[1].test[0][0])
    assert tuple(image.shape) == (3, model.image_size, model.image_size)
