"""The argument groups of a run: frozen dataclasses whose attribute docstrings are the CLI help.

Each group is validated when it is built, so a bad config fails before any model or data is
loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from .._checks import (check_choice, check_fraction, check_non_negative, check_non_negative_int, check_positive,
                       check_positive_int)
from ..benchmarks.mtil import MTIL_ORDERS
from ..models import TRAIN_MASKS, UPDATE_VARIANTS, TrainMask, UpdateVariant
from ..training import PRECISIONS, Precision

ProtocolName = Literal["ost", "mst", "joint", "mtil"]
PROTOCOL_NAMES: tuple[str, ...] = get_args(ProtocolName)
LRSchedule = Literal["step", "cosine"]
LR_SCHEDULES: tuple[str, ...] = get_args(LRSchedule)


@dataclass(frozen=True)
class ModelSpec:
    """Which CLIP to fine-tune."""

    name: str = "world"
    """``world`` (the embedded world's pretrained tiny CLIP) or an OpenCLIP model name (``ViT-B-32``)."""
    pretrained: str | None = None
    """OpenCLIP weights: a tag (``openai``) or a checkpoint file; unused for ``world``."""
    update: UpdateVariant = "whole"
    """Which part trains: ``whole`` (WM), ``image`` (IO) or ``text`` (TO)."""
    train_mask: TrainMask = "current"
    """Training logits kept: the ``current`` session's classes (MST), all ``seen``, or ``none``."""
    train_logit_scale: bool = True
    """Whether the logit scale (and bias) trains with the variant; False keeps it as pretrained, as
    ZSCL's code does (``exclude_params_name = ["logit_scale"]``)."""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"model.name must be 'world' or an OpenCLIP model name such as 'ViT-B-32', got "
                             f"{self.name!r}.")
        check_choice("model.update", self.update, UPDATE_VARIANTS)
        check_choice("model.train_mask", self.train_mask, TRAIN_MASKS)


@dataclass(frozen=True)
class ProtocolSpec:
    """How the update classes are presented (PROTOCOL.md section 3), or the MTIL task sequence."""

    name: ProtocolName = "mst"
    """``ost``: one session; ``mst``: class-incremental sessions; ``joint``: Joint-FT, OST-style
    training on every class, evaluated per MST session (the MST upper bound); ``mtil``: one
    dataset per task, each scored among its own classes (needs an MTIL data source)."""
    n_sessions: int = 4
    """Sessions of ``mst`` (and of the session table of ``joint``)."""
    class_order: tuple[int, ...] | None = None
    """Class ids in session order; default ``0..C-1``."""
    task_order: str | tuple[str, ...] | None = None
    """``mtil`` only: ``I`` or ``II`` (ZSCL's orders of the 11 datasets), or the task names in order;
    null: the data source's order."""

    def __post_init__(self):
        check_choice("protocol.name", self.name, PROTOCOL_NAMES)
        self._check_task_order()
        check_positive_int("protocol.n_sessions", self.n_sessions)
        if self.class_order is not None:
            order = list(self.class_order)
            bad = [c for c in order if isinstance(c, bool) or not isinstance(c, int) or c < 0]
            if bad or not order or len(set(order)) != len(order):
                raise ValueError(f"protocol.class_order must list distinct class ids >= 0, got {self.class_order!r}.")

    def _check_task_order(self) -> None:
        if self.task_order is None:
            return
        if self.name != "mtil":
            raise ValueError(f"protocol.task_order is given ({self.task_order!r}) with protocol.name={self.name!r}: "
                             "it orders the tasks of protocol.name='mtil'.")
        if isinstance(self.task_order, str):
            check_choice("protocol.task_order", self.task_order, tuple(MTIL_ORDERS))
        elif not self.task_order or any(not isinstance(n, str) or not n.strip() for n in self.task_order):
            raise ValueError(f"protocol.task_order must be {sorted(MTIL_ORDERS)} or a list of task names, "
                             f"got {self.task_order!r}.")


@dataclass(frozen=True)
class TrainingSpec:
    """Optimisation (PROTOCOL.md section 7 gives the paper's values)."""

    epochs: int = 2
    """Epochs per session (unused when ``iterations`` is set)."""
    iterations: int | None = None
    """Optimizer steps per session or task instead of whole epochs (ZSCL's MTIL: 1000): as many epochs as
    they need, the last one cut short; null: ``epochs`` epochs."""
    lr: float = 1e-5
    """Adam learning rate (paper: 1e-6; RKR 1e-5)."""
    task_lr: dict[str, float] | None = None
    """MTIL only: the learning rate of named tasks, the others train at ``lr`` (ZSCL's method
    scripts: ``{Aircraft: 5.0e-5, MNIST: 5.0e-5}``)."""
    lr_schedule: LRSchedule = "step"
    """``step``: x0.1 at each of ``lr_milestones`` (none: constant); ``cosine``: ZSCL's linear warmup over
    ``warmup_iterations`` steps then cosine decay to 0 at ``iterations`` (needs ``iterations``). Every session
    or task starts the schedule again."""
    lr_milestones: tuple[int, ...] = ()
    """Epochs of a session after which the learning rate is multiplied by 0.1 (paper OST: [10]); with
    ``iterations``, steps of a session."""
    warmup_iterations: int = 0
    """``cosine`` only: steps of linear warmup at the start of each session or task (ZSCL: 100)."""
    label_smoothing: float = 0.0
    """Label smoothing of the cross-entropy, over the classes a step scores (ZSCL's MTIL: 0.2)."""
    weight_decay: float = 0.0
    """Adam weight decay."""
    batch_size: int = 32
    """Training batch size of each process (paper: 100); under torchrun the batch is N times this."""
    precision: Precision = "auto"
    """``auto`` (bf16 on a GPU, fp32 on the CPU), ``fp32``, ``bf16`` or ``fp16``."""
    grad_clip_norm: float | None = 1.0
    """Gradient-norm clipping; null: none."""
    device: str = "cpu"
    """``cpu``, ``cuda``, ``cuda:1``...; under torchrun ``cuda`` (each process takes cuda:LOCAL_RANK) or ``cpu``."""
    num_workers: int = 0
    """DataLoader worker processes (training and evaluation)."""
    pin_memory: bool = False
    """Pinned host memory for faster copies to a GPU."""
    threads: int | None = None
    """CPU threads torch may use; null: torch's default."""
    find_unused_parameters: bool = False
    """Under torchrun, DDP's search for trainable parameters outside the forward (no CLIP variant needs it)."""
    max_consecutive_nonfinite: int = 10
    """A step with a non-finite loss is skipped and counted; this many in a row stop the run."""

    def __post_init__(self):
        check_positive_int("training.epochs", self.epochs)
        check_positive_int("training.batch_size", self.batch_size)
        if not self.lr > 0:
            raise ValueError(f"training.lr must be > 0, got {self.lr!r}.")
        check_non_negative("training.weight_decay", self.weight_decay)
        if self.grad_clip_norm is not None:
            check_non_negative("training.grad_clip_norm", self.grad_clip_norm)
        if self.num_workers < 0:
            raise ValueError(f"training.num_workers must be >= 0, got {self.num_workers!r}.")
        if self.threads is not None:
            check_positive_int("training.threads", self.threads)
        check_choice("training.precision", self.precision, PRECISIONS)
        check_positive_int("training.max_consecutive_nonfinite", self.max_consecutive_nonfinite)
        for milestone in self.lr_milestones:
            check_positive_int("training.lr_milestones", milestone)
        for name, lr in (self.task_lr or {}).items():
            check_positive(f"training.task_lr[{name!r}]", lr)
        check_fraction("training.label_smoothing", self.label_smoothing)
        if self.iterations is not None:
            check_positive_int("training.iterations", self.iterations)
        self._check_schedule()

    def _check_schedule(self) -> None:
        check_choice("training.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_non_negative_int("training.warmup_iterations", self.warmup_iterations)
        if self.lr_schedule == "step":
            if self.warmup_iterations:
                raise ValueError(f"training.warmup_iterations={self.warmup_iterations} is given with "
                                 "training.lr_schedule='step': the warmup is part of lr_schedule='cosine'.")
            return
        if self.iterations is None:
            raise ValueError("training.lr_schedule='cosine' needs training.iterations (the steps the cosine "
                             "decays over), got iterations=None.")
        if self.lr_milestones:
            raise ValueError(f"training.lr_milestones={list(self.lr_milestones)} are given with "
                             "training.lr_schedule='cosine': milestones belong to lr_schedule='step'.")
        if self.warmup_iterations >= self.iterations:
            raise ValueError(f"training.warmup_iterations must be below training.iterations={self.iterations}, "
                             f"got {self.warmup_iterations!r}.")


@dataclass(frozen=True)
class EvaluationSpec:
    """What is measured after every session."""

    zeroshot_top_k: tuple[int, ...] = (1, 5)
    """The k of each zero-shot top-k accuracy."""
    retrieval_ks: tuple[int, ...] = (1, 5, 10)
    """The K of each retrieval Recall@K."""
    batch_size: int = 256
    """Images or texts encoded per forward."""
    tensorboard: bool = True
    """Write TensorBoard events under ``<output_dir>/tb``."""

    def __post_init__(self):
        check_positive_int("evaluation.batch_size", self.batch_size)
        for k in (*self.zeroshot_top_k, *self.retrieval_ks):
            check_positive_int("evaluation k", k)


@dataclass(frozen=True)
class CheckpointSpec:
    """When the run writes checkpoints to ``<output_dir>/checkpoints`` (``--resume`` continues from them)."""

    every_iterations: int | None = 500
    """Also write one every this many training iterations, inside sessions; null: only after each session."""
    keep: int = 2
    """How many of the newest checkpoints are kept (an unusable newest one falls back to the previous)."""
    enabled: bool = True
    """Write checkpoints at all."""

    def __post_init__(self):
        if self.every_iterations is not None:
            check_positive_int("checkpoint.every_iterations", self.every_iterations)
        check_positive_int("checkpoint.keep", self.keep)


__all__ = [
    "CheckpointSpec",
    "EvaluationSpec",
    "LRSchedule",
    "LR_SCHEDULES",
    "ModelSpec",
    "PROTOCOL_NAMES",
    "ProtocolName",
    "ProtocolSpec",
    "TrainingSpec",
]
