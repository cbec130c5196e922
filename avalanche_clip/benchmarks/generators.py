"""The paper's protocols as benchmark generators (PROTOCOL.md section 3).

OST: one experience holding every class. MST: class-incremental sessions, classes in a given
order. Both take any labelled dataset (a torch ``Dataset`` of ``(image, label)`` pairs or an
Avalanche dataset) and return a scenario with a ``train_stream`` and a ``test_stream`` whose
experiences carry :class:`~avalanche_clip.benchmarks.CLIPExperience` attributes.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

import torch
from avalanche.benchmarks.scenarios.dataset_scenario import benchmark_from_datasets
from avalanche.benchmarks.scenarios.generic_scenario import CLScenario
from avalanche.benchmarks.utils.classification_dataset import TaskAwareSupervisedClassificationDataset
from avalanche.benchmarks.utils.data_attribute import DataAttribute, TaskLabels
from avalanche.benchmarks.utils.flat_data import ConstantSequence

from .._checks import check_class_names, check_positive_int
from .experience import with_class_names

logger = logging.getLogger(__name__)

Transform = Callable[[Any], Any]


def dataset_targets(dataset: Any) -> list[int]:
    """The label of every sample: ``dataset.targets`` when present, else read sample by sample."""
    targets = getattr(dataset, "targets", None)
    if targets is None:
        logger.warning(
            "%s has no .targets: reading the labels of its %d samples one by one (this loads "
            "every image); give it a .targets attribute to skip this.",
            type(dataset).__name__, len(dataset),
        )
        targets = [dataset[i][1] for i in range(len(dataset))]
    return [int(t) for t in targets]


def _labelled_dataset(
    dataset: Any, role: str, num_classes: int, train_transform: Transform | None,
    eval_transform: Transform | None,
) -> TaskAwareSupervisedClassificationDataset:
    """Wrap ``dataset`` as a task-aware Avalanche dataset (task label 0, appended last).

    Task labels keep Avalanche's own plugins (EWC, replay) working on these benchmarks.
    """
    targets = dataset_targets(dataset)
    if not targets:
        raise ValueError(f"The {role} dataset is empty.")
    outside = sorted({t for t in targets if not 0 <= t < num_classes})
    if outside:
        raise ValueError(
            f"The {role} dataset has labels {outside[:10]} outside class_names, which names "
            f"{num_classes} classes (ids 0..{num_classes - 1})."
        )
    return TaskAwareSupervisedClassificationDataset(
        [dataset],
        data_attributes=[DataAttribute(targets, "targets"), TaskLabels(ConstantSequence(0, len(targets)))],
        transform_groups={"train": (train_transform, None), "eval": (eval_transform, None)},
    )


def _check_coverage(train: TaskAwareSupervisedClassificationDataset, test: TaskAwareSupervisedClassificationDataset,
                    num_classes: int) -> None:
    missing = sorted(set(range(num_classes)) - set(train.targets.uniques))
    if missing:
        raise ValueError(
            f"class_names names {num_classes} classes but the train dataset has no sample of "
            f"classes {missing[:10]}: the label range and class_names must agree."
        )
    untested = sorted(set(range(num_classes)) - set(test.targets.uniques))
    if untested:
        logger.warning("The test dataset has no sample of %d classes: %s", len(untested), untested[:10])


def _split_by_class(dataset: TaskAwareSupervisedClassificationDataset, sessions: list[list[int]]):
    by_class = dataset.targets.val_to_idx
    return [dataset.subset(sorted(i for c in classes for i in by_class.get(c, []))) for classes in sessions]


def _hold_out(dataset: TaskAwareSupervisedClassificationDataset, size: float, seed: int):
    """``(kept, held_out)``: ``size`` of each class's samples (at least one, never all) drawn by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    held = []
    for _, indices in sorted(dataset.targets.val_to_idx.items()):
        count = min(max(1, round(size * len(indices))), len(indices) - 1)
        order = torch.randperm(len(indices), generator=generator)[:count]
        held += [indices[i] for i in order.tolist()]
    kept = sorted(set(range(len(dataset))) - set(held))
    return dataset.subset(kept), dataset.subset(sorted(held))


def _build(train, test, class_names, sessions, train_transform, eval_transform, templates,
           validation_size: float = 0.0, validation_seed: int = 0) -> CLScenario:
    names = check_class_names(class_names)
    if validation_size and not 0 < validation_size < 1:
        raise ValueError(f"validation_size must be a fraction in (0, 1), got {validation_size!r}.")
    train_set = _labelled_dataset(train, "train", len(names), train_transform, eval_transform)
    test_set = _labelled_dataset(test, "test", len(names), train_transform, eval_transform)
    _check_coverage(train_set, test_set, len(names))
    streams = {"test": _split_by_class(test_set, sessions)}
    if validation_size:
        train_set, valid_set = _hold_out(train_set, validation_size, validation_seed)
        streams["valid"] = _split_by_class(valid_set, sessions)
    benchmark = benchmark_from_datasets(train=_split_by_class(train_set, sessions), **streams)
    return with_class_names(benchmark, names, classes=sessions, templates=templates)


def ost_benchmark(
    train: Any,
    test: Any,
    class_names: Sequence[str],
    *,
    train_transform: Transform | None = None,
    eval_transform: Transform | None = None,
    templates: Sequence[str] | None = None,
    validation_size: float = 0.0,
    validation_seed: int = 0,
) -> CLScenario:
    """One-session training: one train and one test experience holding every class.

    Args:
        train: the training dataset of ``(image, label)`` pairs, labels in ``0..C-1``.
        test: the test dataset, same labels.
        class_names: one name per label (``C`` names).
        train_transform: applied to training images (e.g. ``clip_transforms(model)[0]``).
        eval_transform: applied to test images, and to training images in eval.
        templates: prompt templates for these experiences; default: the model's own.
        validation_size: the fraction of each class's training samples held out as a
            ``valid_stream`` (one experience per session, for ``EarlyStoppingPlugin`` and model
            selection); 0: no validation stream.
        validation_seed: draws which samples are held out.
    """
    classes = list(range(len(check_class_names(class_names))))
    return _build(train, test, class_names, [classes], train_transform, eval_transform, templates,
                  validation_size, validation_seed)


def session_classes(class_order: Sequence[int], n_sessions: int) -> list[list[int]]:
    """Split ``class_order`` into ``n_sessions`` consecutive sessions.

    When ``n_sessions`` does not divide the classes, the first ``C mod n_sessions`` sessions
    take one class more (10 classes in 3 sessions: 4, 3, 3); no class is dropped.
    """
    base, extra = divmod(len(class_order), n_sessions)
    sessions, start = [], 0
    for session in range(n_sessions):
        size = base + (session < extra)
        sessions.append(list(class_order[start:start + size]))
        start += size
    return sessions


def mst_benchmark(
    train: Any,
    test: Any,
    class_names: Sequence[str],
    n_sessions: int = 8,
    class_order: Sequence[int] | None = None,
    *,
    train_transform: Transform | None = None,
    eval_transform: Transform | None = None,
    templates: Sequence[str] | None = None,
    validation_size: float = 0.0,
    validation_seed: int = 0,
) -> CLScenario:
    """Multi-session training: class-incremental sessions over ``class_order``.

    Session ``k`` of the train stream holds the ``k``-th slice of ``class_order`` (see
    :func:`session_classes` for the remainder); test experience ``k`` holds the test samples of
    the same classes. Testing classifies over all classes (no task id).

    Args:
        train, test, class_names, train_transform, eval_transform, templates, validation_size,
            validation_seed: as in :func:`ost_benchmark`.
        n_sessions: number of sessions (8 in the paper).
        class_order: a permutation of the class ids; default: ``0, 1, ..., C-1`` (COCO order).
    """
    num_classes = len(check_class_names(class_names))
    check_positive_int("n_sessions", n_sessions)
    if n_sessions > num_classes:
        raise ValueError(f"n_sessions={n_sessions} is larger than the number of classes ({num_classes}).")
    order = list(range(num_classes)) if class_order is None else [int(c) for c in class_order]
    if sorted(order) != list(range(num_classes)):
        raise ValueError(
            f"class_order must be a permutation of 0..{num_classes - 1} (each class once); "
            f"got {len(order)} entries."
        )
    sessions = session_classes(order, n_sessions)
    return _build(train, test, class_names, sessions, train_transform, eval_transform, templates,
                  validation_size, validation_seed)


__all__ = ["dataset_targets", "mst_benchmark", "ost_benchmark", "session_classes"]
