"""OST / MST generators: experiences, class attributes, bad input."""

import pytest
import torch
from avalanche.benchmarks.utils.classification_dataset import TaskAwareSupervisedClassificationDataset

from avalanche_clip.benchmarks import mst_benchmark, ost_benchmark, session_classes
from conftest import CLASS_NAMES, GeneratedImages


def test_ost_is_one_experience_with_every_class(generated):
    benchmark = ost_benchmark(*generated, CLASS_NAMES)
    (train,), (test,) = list(benchmark.train_stream), list(benchmark.test_stream)
    assert len(train.dataset) == 60 and len(test.dataset) == 30
    assert train.class_names == tuple(CLASS_NAMES)
    assert train.classes_in_this_experience == list(range(10)) == test.classes_in_this_experience


def test_mst_sessions_follow_the_class_order(generated):
    order = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    benchmark = mst_benchmark(*generated, CLASS_NAMES, n_sessions=5, class_order=order)
    train = list(benchmark.train_stream)
    assert [e.classes_in_this_experience for e in train] == [[8, 9], [6, 7], [4, 5], [2, 3], [0, 1]]
    assert train[2].previous_classes == [6, 7, 8, 9]
    assert train[2].classes_seen_so_far == [4, 5, 6, 7, 8, 9]
    assert train[2].future_classes == [0, 1, 2, 3]
    for exp in train:
        assert sorted(set(exp.dataset.targets)) == exp.classes_in_this_experience
    for exp, test in zip(train, benchmark.test_stream):
        assert sorted(set(test.dataset.targets)) == exp.classes_in_this_experience
        assert test.class_names == tuple(CLASS_NAMES)


def test_remainder_goes_to_the_first_sessions_and_no_class_is_dropped():
    assert session_classes(list(range(10)), 3) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert session_classes(list(range(8)), 8) == [[i] for i in range(8)]


def test_samples_are_task_aware_image_label_task(generated):
    exp = next(iter(mst_benchmark(*generated, CLASS_NAMES, n_sessions=2).train_stream))
    assert isinstance(exp.dataset, TaskAwareSupervisedClassificationDataset)
    image, label, task = exp.dataset[0]
    assert image.shape == (3, 32, 32) and label == 0 and task == 0


def test_transforms_are_applied_per_group(generated):
    benchmark = ost_benchmark(*generated, CLASS_NAMES, train_transform=lambda x: x * 0,
                              eval_transform=lambda x: x + 100)
    exp = benchmark.train_stream[0]
    assert exp.dataset.train()[0][0].abs().sum() == 0
    assert exp.dataset.eval()[0][0].min() > 50


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(class_names=CLASS_NAMES[:9]), ValueError, r"labels \[9\] outside class_names"),
    (dict(class_names=CLASS_NAMES + ["extra"]), ValueError, r"no sample of classes \[10\]"),
    (dict(class_names=[]), ValueError, "class_names is empty"),
    (dict(class_names=["a"] * 10), ValueError, "duplicates"),
    (dict(n_sessions=11), ValueError, "n_sessions=11 is larger than the number of classes"),
    (dict(n_sessions=0), ValueError, "n_sessions must be an integer >= 1"),
    (dict(class_order=[0, 1, 2]), ValueError, "class_order must be a permutation"),
])
def test_bad_input_is_refused(generated, kwargs, error, match):
    args = dict(class_names=CLASS_NAMES, n_sessions=2) | kwargs
    with pytest.raises(error, match=match):
        mst_benchmark(*generated, **args)


def test_empty_dataset_is_refused(generated):
    with pytest.raises(ValueError, match="train dataset is empty"):
        ost_benchmark(torch.utils.data.TensorDataset(torch.zeros(0, 3), torch.zeros(0)), generated[1], CLASS_NAMES)


def test_dataset_without_targets_is_read_sample_by_sample(generated):
    class NoTargets(torch.utils.data.Dataset):
        def __len__(self):
            return 20

        def __getitem__(self, i):
            return torch.zeros(3, 32, 32), i % 10

    exp = ost_benchmark(NoTargets(), generated[1], CLASS_NAMES).train_stream[0]
    assert list(exp.dataset.targets) == [i % 10 for i in range(20)]


def test_missing_test_classes_are_reported_not_fatal(generated, caplog):
    test = GeneratedImages(9, 2, seed=3)
    ost_benchmark(generated[0], test, CLASS_NAMES)
    assert "no sample of 1 classes: [9]" in caplog.text
