"""MTIL, multi-domain task-incremental learning (Zheng et al., ZSCL, ICCV 2023), as a benchmark generator.

A sequence of classification datasets (:class:`~avalanche_clip.benchmarks.mtil_task.MTILTask`),
each learned in turn; after every task each dataset is evaluated among its own classes, with its
own prompt templates.

Design: each experience carries its own dataset's vocabulary. An experience's ``class_names`` are
its dataset's classes (labels ``0..C_d-1``, as the dataset has them) and its ``prompt_templates``
the dataset's templates, so :class:`~avalanche_clip.models.CLIPClassifier` scores a dataset's
images among that dataset's classes only, in training and in evaluation, with no change to the
model's forward, the metrics or the plugins. ``previous_classes`` and ``future_classes`` are empty:
they are class ids of the experience's vocabulary, and no other dataset's class is in it. The model
forgets its ``seen_classes`` when its training vocabulary changes (ids of another vocabulary name
nothing in the new one), so LwF distils, as ZSCL's LwF baseline does, the previous model over the
current dataset's class prompts; VR-LwF adds no LwF term (no previous classes) and distils over its
pseudo sentences; IMM, GeoDL and RKR work on parameters and features and need nothing. One global
vocabulary with per-dataset id offsets was the alternative; it would need the model to mask its
eval logits to the experience's classes and one vocabulary to hold datasets with different
templates (and class names that repeat across datasets, such as CIFAR-100's and Caltech-101's).

Task identity is the experience's vocabulary; Avalanche task labels stay 0, as in OST and MST.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from copy import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from avalanche.benchmarks.scenarios.generic_scenario import CLScenario, EagerCLStream

from .datasets.protocols import RetrievalDataset, ZeroShotDataset
from .experience import CLIPExperience
from .generators import ost_benchmark
from .datasets.mtil_contract import MTILTask

Transform = Callable[[Any], Any]

MTIL_ORDERS: dict[str, tuple[str, ...]] = {
    "I": ("Aircraft", "Caltech101", "CIFAR100", "DTD", "EuroSAT", "Flowers", "Food", "MNIST", "OxfordPet",
          "StanfordCars", "SUN397"),
    "II": ("StanfordCars", "Food", "MNIST", "OxfordPet", "Flowers", "SUN397", "Aircraft", "Caltech101", "DTD",
           "EuroSAT", "CIFAR100"),
}
"""ZSCL's two task orders of the 11 MTIL datasets, by name."""


@runtime_checkable
class MTILExperience(CLIPExperience, Protocol):
    """An experience of an MTIL benchmark: one dataset, its vocabulary (see :class:`CLIPExperience`) and its name.

    Attributes:
        task_name: the dataset's name (``MTILTask.name``), as the MTIL metrics report it.
    """

    task_name: str


def _check_tasks(tasks: Sequence[MTILTask]) -> tuple[MTILTask, ...]:
    if isinstance(tasks, (str, bytes, Mapping)) or not hasattr(tasks, "__iter__"):
        raise TypeError(f"tasks must be a list of MTILTask, got {type(tasks).__name__} {tasks!r:.60}.")
    tasks = tuple(tasks)
    if not tasks:
        raise ValueError("tasks is empty: MTIL needs at least one MTILTask.")
    bad = [type(t).__name__ for t in tasks if not isinstance(t, MTILTask)]
    if bad:
        raise TypeError(f"tasks must hold MTILTask objects, got {bad[:3]}.")
    names = [t.name for t in tasks]
    invalid = [n for n in names if not isinstance(n, str) or not n.strip() or "/" in n]
    if invalid:
        raise ValueError(f"Task names must be non-empty and without '/' (they name metrics), got {invalid!r}.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"Task names must be distinct, got {repeated} more than once.")
    return tasks


def task_order(names: Sequence[str], order: str | Sequence[str] | None) -> list[str]:
    """The task names in training order: ``order`` checked against the tasks' ``names``.

    Args:
        names: the names of the available tasks.
        order: ``"I"`` or ``"II"`` (:data:`MTIL_ORDERS`), a sequence naming every task once, or
            None (``names`` as given).
    """
    if order is None:
        return list(names)
    if isinstance(order, str):
        if order not in MTIL_ORDERS:
            raise ValueError(f"order must be one of {sorted(MTIL_ORDERS)} or a list of task names, got {order!r}.")
        order = MTIL_ORDERS[order]
    order = list(order)
    unknown = [n for n in order if n not in names]
    if unknown:
        raise ValueError(f"order names tasks {unknown} that are not given. Available: {', '.join(names)}.")
    repeated = sorted({n for n in order if order.count(n) > 1})
    if repeated:
        raise ValueError(f"order names {repeated} more than once; each task is learned once.")
    missing = [n for n in names if n not in order]
    if missing:
        raise ValueError(f"order does not place tasks {missing}: list every given task once "
                         f"(order: {order}).")
    return order


def _stream(name: str, experiences: Sequence[Any], tasks: Sequence[MTILTask]) -> EagerCLStream:
    decorated = []
    for experience, task in zip(experiences, tasks):
        new = copy(experience)
        new.task_name = task.name
        decorated.append(new)
    return EagerCLStream(name, decorated)  # numbers the experiences and points them at this stream


def mtil_benchmark(
    tasks: Sequence[MTILTask],
    *,
    order: str | Sequence[str] | None = None,
    train_transform: Transform | None = None,
    eval_transform: Transform | None = None,
) -> CLScenario:
    """MTIL: one train and one test experience per task, in ``order``; each scored among its own classes.

    Train experience ``t`` and test experience ``t`` hold the ``t``-th task of ``order``; each
    carries the task's class names, templates and name (:class:`MTILExperience`). Evaluate the
    whole ``test_stream`` after every task (and once before the first, for the original model's
    row) to fill the accuracy matrix of :func:`~avalanche_clip.evaluation.mtil_metrics`.

    Args:
        tasks: the datasets (:class:`MTILTask`), with distinct names.
        order: ``"I"`` or ``"II"`` (ZSCL's orders of the 11 datasets, :data:`MTIL_ORDERS`), the
            task names in training order, or None: the order of ``tasks``.
        train_transform: applied to training images (e.g. ``clip_transforms(model)[0]``).
        eval_transform: applied to test images, and to training images in eval.
    """
    by_name = {task.name: task for task in _check_tasks(tasks)}
    ordered = [by_name[name] for name in task_order(list(by_name), order)]
    singles = [ost_benchmark(task.train, task.test, task.class_names, templates=task.templates,
                             train_transform=train_transform, eval_transform=eval_transform) for task in ordered]
    streams = [_stream(name, [single.streams[name][0] for single in singles], ordered) for name in ("train", "test")]
    return CLScenario(streams)


@dataclass(frozen=True)
class MTILData:
    """Everything an MTIL run needs besides the model: the tasks and the capability sets.

    Attributes:
        tasks: the datasets of the sequence, in their default order.
        zeroshot: named zero-shot sets measured beside the tasks (forgetting of held-out
            classes), transform applied.
        retrieval: named retrieval sets, transform applied.
        retrieval_folds: per retrieval set, the folds recall is averaged over (default 1).
        train_transform: the tasks' training transform.
        eval_transform: the tasks' test transform.
    """

    tasks: tuple[MTILTask, ...]
    zeroshot: Mapping[str, ZeroShotDataset] = field(default_factory=dict)
    retrieval: Mapping[str, RetrievalDataset] = field(default_factory=dict)
    retrieval_folds: Mapping[str, int] = field(default_factory=dict)
    train_transform: Transform | None = None
    eval_transform: Transform | None = None

    def __post_init__(self):
        object.__setattr__(self, "tasks", _check_tasks(self.tasks))


class MTILSource(ABC):
    """Base of the ``data`` config groups of MTIL runs (the world's domains, the 11 real datasets).

    A subclass is a frozen dataclass whose fields are the user's options (paths, sizes, seed)
    and whose :meth:`build` returns the tasks; ``experiment.run`` and the CLI accept any subclass
    by its ``class_path``.
    """

    @abstractmethod
    def build(self, model: Any) -> MTILData:
        """Build the tasks and evaluation sets; ``model`` gives the transforms (input size, normalisation)."""

    def task_names(self) -> tuple[str, ...] | None:
        """The tasks' names, known before :meth:`build` so that a run checks its options early; None: unknown."""
        return None


__all__ = ["MTILData", "MTILExperience", "MTILSource", "MTIL_ORDERS", "mtil_benchmark", "task_order"]
