"""CLIPStrategy: Avalanche's supervised template with what CLIP fine-tuning needs.

Mixed precision, gradient-norm clipping, an optimizer over the trainable parameters only, and
the dataset's ``collate_fn`` in training too. Methods are plugins (``training.plugins``); this
class holds no method-specific code. For reliability: a data order fixed by the seed, steps with
a non-finite loss skipped and counted, and a resume point to continue an interrupted experience
exactly where it stopped (its :meth:`CLIPStrategy.state_dict`; :mod:`avalanche_clip.checkpointing`
saves and restores the rest of a run's state).

Under torch.distributed (a script launched with ``torchrun``, see :mod:`avalanche_clip.distributed`)
the same class trains the student in DDP on each process's shard of the data, and evaluates each
shard, the metrics seeing the gathered outputs of the whole stream.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import islice
from typing import Any, Callable, Sequence

import torch
from avalanche.benchmarks.utils.data_loader import collate_from_data_or_kwargs
from avalanche.core import BasePlugin
from avalanche.distributed import DistributedHelper
from avalanche.models.dynamic_optimizers import update_optimizer
from avalanche.training.plugins.evaluation import EvaluationPlugin, default_evaluator
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim import Optimizer
from torch.utils.data import DataLoader

from .._checks import check_non_negative, check_positive_int
from ..distributed import batch_rows, gather_shards, shard_sampler, wrap_ddp
from ..models import CLIPClassifier
from .numerics import NonFiniteGuard
from .precision import Precision, autocast, grad_scaler, resolve_precision
from .sampling import SeededEpochSampler


@dataclass(frozen=True)
class TrainPosition:
    """Where training is in the data: ``batch`` batches of ``epoch`` of ``experience`` are done."""

    experience: int
    epoch: int
    batch: int


class MaskedTargetsCheck(nn.Module):
    """A criterion that refuses a target whose training logit the model masks to ``-inf``.

    Under ``train_mask="current"`` a sample of an earlier class (a replay buffer's, GEM's or
    A-GEM's reference samples) would get an infinite loss: a usage error, reported at the first
    such batch, never a skipped step. It wraps ``strategy._criterion``, which memory-based
    plugins call directly.

    Args:
        criterion: the classification loss it checks the targets of.
    """

    def __init__(self, criterion: nn.Module):
        super().__init__()
        self.criterion = criterion

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() == 1 and not targets.is_floating_point() and logits.dim() == 2:
            masked = torch.isneginf(logits.gather(1, targets[:, None].long()))[:, 0]  # [B]
            if masked.any():
                classes = sorted({int(c) for c in targets[masked]})
                raise ValueError(
                    f"Training targets of classes {classes[:10]} have -inf logits: the model's train_mask "
                    "(default train_mask='current') leaves them out of training, so their loss is infinite. "
                    "Samples of earlier classes (Replay, GEM, AGEM and other memory-based plugins) need the "
                    'model built with train_mask="seen" (CLIPClassifier(..., train_mask="seen"), or '
                    "--model.train_mask seen)."
                )
        return self.criterion(logits, targets)


class CLIPStrategy(SupervisedTemplate):
    """Fine-tune a :class:`~avalanche_clip.models.CLIPClassifier` on a stream of experiences.

    Plain fine-tuning (FT) is this strategy with no plugin; Joint-FT is FT on an OST benchmark.
    A training step is: forward, cross-entropy and every plugin's term under autocast; backward
    (scaled for fp16); unscale, clip the gradient norm, step.

    Args:
        model: the CLIP classifier.
        optimizer: any torch optimizer; it is made to hold exactly the model's trainable
            parameters before each experience (frozen ones are removed, new ones such as RKR
            rectifiers added).
        criterion: the classification loss; default: cross-entropy. It is wrapped in
            :class:`MaskedTargetsCheck`: a target outside the model's training mask is an error.
        train_mb_size: training batch size (100 in the paper).
        train_epochs: epochs per experience (unless ``train_iterations`` is given).
        train_iterations: if given, each experience trains exactly this many steps instead of
            ``train_epochs`` epochs: as many epochs as they need, the last one cut short
            (:attr:`experience_epochs`). A step skipped for a non-finite loss counts.
        eval_mb_size: evaluation batch size; default: ``train_mb_size``.
        device: where to train.
        precision: ``"auto"`` (bf16 on a GPU that supports it, fp32 on the CPU), ``"fp32"``,
            ``"bf16"`` or ``"fp16"`` (with a GradScaler).
        grad_clip_norm: clip the gradient norm to this (1.0 in the paper); None: no clipping.
        plugins: Avalanche plugins, e.g. the method plugins of ``avalanche_clip.training``.
        evaluator: an ``EvaluationPlugin`` (or a factory of one); default: Avalanche's.
        eval_every: periodic evaluation, as in Avalanche (-1: none).
        peval_mode: ``"epoch"`` or ``"iteration"``, as in Avalanche.
        seed: fixes the training data order: each epoch of each experience is a permutation
            drawn from ``(seed, experience, epoch)``, the same on every process (N processes with
            batch size b together take the batches of one process with batch size N·b), and
            the seeds of DataLoader workers too. With ``num_workers=0`` augmentation draws from
            the global torch RNG in this process, so restoring that RNG replays it exactly, even
            in the middle of an epoch; with workers, a run is still reproducible and a resume at
            an epoch boundary exact, but the augmentation of the rest of an epoch resumed in its
            middle differs.
        find_unused_parameters: DDP's option for models with trainable parameters outside the
            forward's graph (no CLIP variant has any); used only under torch.distributed.
        max_consecutive_nonfinite: a step whose loss (or, in fp32/bf16, gradient norm) is not
            finite is skipped and counted in ``nonfinite``; this many in a row stop training with
            a ``NonFiniteLossError``. Under torch.distributed every process skips the step when
            any one's loss is not finite.
    """

    def __init__(
        self,
        *,
        model: CLIPClassifier,
        optimizer: Optimizer,
        criterion: nn.Module | None = None,
        train_mb_size: int = 100,
        train_epochs: int = 1,
        train_iterations: int | None = None,
        eval_mb_size: int | None = None,
        device: str | torch.device = "cpu",
        precision: Precision = "auto",
        grad_clip_norm: float | None = 1.0,
        plugins: Sequence[BasePlugin] | None = None,
        evaluator: EvaluationPlugin | Callable[[], EvaluationPlugin] | None = default_evaluator,
        eval_every: int = -1,
        peval_mode: str = "epoch",
        seed: int = 0,
        find_unused_parameters: bool = False,
        max_consecutive_nonfinite: int = 10,
    ):
        if not isinstance(model, CLIPClassifier):
            raise TypeError(f"model must be a CLIPClassifier, got {type(model).__name__}.")
        if grad_clip_norm is not None:
            check_non_negative("grad_clip_norm", grad_clip_norm)
        if train_iterations is not None:
            check_positive_int("train_iterations", train_iterations)
        super().__init__(
            model=model,
            optimizer=optimizer,
            criterion=MaskedTargetsCheck(nn.CrossEntropyLoss() if criterion is None else criterion),
            train_mb_size=train_mb_size,
            train_epochs=train_epochs,
            eval_mb_size=train_mb_size if eval_mb_size is None else eval_mb_size,
            device=device,
            plugins=list(plugins or []),
            evaluator=evaluator,
            eval_every=eval_every,
            peval_mode=peval_mode,
        )
        self.precision = resolve_precision(precision, self.device)
        self.grad_clip_norm = grad_clip_norm
        self.train_iterations = train_iterations
        self.scaler = grad_scaler(self.precision, self.device)
        self.seed = seed
        self.find_unused_parameters = find_unused_parameters
        self._ddp: DistributedDataParallel | None = None  # the student in DDP while training distributed
        self._eval_position = 0  # samples of this process's evaluation shard already read
        self.nonfinite = NonFiniteGuard(max_consecutive=max_consecutive_nonfinite)
        """Counts the skipped steps (``nonfinite.skipped``)."""
        self.train_sampler: SeededEpochSampler | None = None
        self.epoch = 0
        """The epoch of the current experience being trained (0-based)."""
        self.epoch_batches = 0
        """Batches of the current epoch consumed so far (skipped steps included)."""
        self._resume: TrainPosition | None = None  # where the next train call starts (load_state_dict)

    def autocast(self):
        """The autocast context of this strategy's precision."""
        return autocast(self.precision, self.device)

    # --------------------------------------------------------------- the training step

    def training_epoch(self, **kwargs):
        """One epoch; every hook fires where Avalanche's ``SGDUpdate`` fires it.

        A step whose loss is not finite stops after ``before_backward``: no backward, no update,
        and none of the later callbacks (so loss metrics never average a NaN); it is counted.
        """
        batches = self.dataloader
        if self.train_iterations is not None:  # the experience's last epoch ends at its last step
            batches = islice(batches, max(0, self.train_iterations - self.experience_steps))
        for self.mbatch in batches:
            if self._stop_training:
                break
            self.epoch_batches += 1
            self._unpack_minibatch()
            self._before_training_iteration(**kwargs)
            self.optimizer.zero_grad(set_to_none=True)
            self.loss = self._make_empty_loss()

            with self.autocast():  # plugins' terms (teacher forwards) run in reduced precision too
                self._before_forward(**kwargs)
                self.mb_output = self.forward()
                self._after_forward(**kwargs)
                self.loss += self.criterion()
                self._before_backward(**kwargs)

            if not self.nonfinite.check(self._loss_seen_by_all(), what="loss", where=self._step_description()):
                continue
            self.backward()
            self._after_backward(**kwargs)

            self._before_update(**kwargs)
            self.optimizer_step()
            self._after_update(**kwargs)

            self._after_training_iteration(**kwargs)

    def eval_epoch(self, **kwargs):
        """Evaluation loop, under autocast."""
        with self.autocast():
            super().eval_epoch(**kwargs)

    def forward(self):
        """Class logits of the batch (no task routing: CLIP scores every class it is given).

        Distributed, training runs through the DDP wrapper and evaluation returns the logits of
        the global batch (see :meth:`_gather_eval_batch`).
        """
        if self.is_training:
            return (self._ddp or self.model)(self.mb_x)
        output = self.model(self.mb_x)
        return self._gather_eval_batch(output) if DistributedHelper.is_distributed else output

    def backward(self):
        """Backward pass, loss scaled when fp16 needs it."""
        self.scaler.scale(self.loss).backward(retain_graph=self.retain_graph)

    def optimizer_step(self):
        """Unscale, clip the gradient norm of the optimized parameters, step.

        Without a GradScaler (fp32, bf16) a non-finite gradient norm skips the update and is
        counted like a non-finite loss; in fp16 the scaler skips such steps itself.
        """
        params = [p for group in self.optimizer.param_groups for p in group["params"] if p.grad is not None]
        if self.scaler.is_enabled():
            if self.grad_clip_norm is not None:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(params, self.grad_clip_norm)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            max_norm = float("inf") if self.grad_clip_norm is None else self.grad_clip_norm
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # the norm before clipping
            if not self.nonfinite.check(norm, what="gradient norm", where=self._step_description()):
                return
            self.optimizer.step()
        self.nonfinite.step_done()

    def _loss_seen_by_all(self) -> torch.Tensor:
        """The loss; under torch.distributed NaN on every process when one process's is not finite.

        DDP's backward is collective: the processes must skip a step together.
        """
        loss = self.loss.detach()
        if not DistributedHelper.is_distributed:
            return loss
        faulty = (~torch.isfinite(loss)).any().float()
        torch.distributed.all_reduce(faulty, op=torch.distributed.ReduceOp.MAX)
        return torch.where(faulty > 0, torch.full_like(loss, float("nan")), loss)

    def _step_description(self) -> str:
        position = self.train_position
        return f"experience {position.experience}, epoch {position.epoch}, batch {position.batch - 1}"

    # ------------------------------------------------------------ position and resume

    @property
    def experience_epochs(self) -> int:
        """Epochs the current experience trains: ``train_epochs``, or as many as ``train_iterations`` need."""
        if self.train_iterations is None:
            return self.train_epochs
        batches = len(self.dataloader)
        return -(-self.train_iterations // batches) if batches else 1

    @property
    def experience_steps(self) -> int:
        """Batches of the current experience consumed so far (every epoch before this one has them all)."""
        return self.epoch * len(self.dataloader) + self.epoch_batches

    @property
    def train_position(self) -> TrainPosition:
        """Where training is: the experience, its epoch, and the batches of that epoch done."""
        return TrainPosition(self.experience.current_experience, self.epoch, self.epoch_batches)

    def state_dict(self) -> dict[str, Any]:
        """The strategy's progress: experiences trained, and where training is inside one (None between them)."""
        position = None if self.experience is None else asdict(self.train_position)
        return {"experiences_completed": self.clock.train_exp_counter, "position": position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Make the next ``train`` continue where :meth:`state_dict` was taken.

        Between experiences, that ``train`` starts the next experience as usual. Inside one, it
        runs the callbacks that start the experience, skips the epochs done, runs the callbacks
        that start the interrupted epoch, and trains from the batch of that epoch's order where
        the state was taken (earlier batches are not read). The rest of a run's state (counters,
        optimizer, RNG, metrics) is its components' own: a resumed run's checkpointing plugin puts
        it back in those epoch-start callbacks (``checkpointing.RunCheckpointing``).
        """
        position = state["position"]
        self._resume = (TrainPosition(state["experiences_completed"], 0, 0) if position is None
                        else TrainPosition(**position))

    def _train_exp(self, experience, eval_streams=None, **kwargs):
        """The epochs of one experience, from the resume point when one is set for it."""
        resume, self._resume = self._resume, None
        if resume is not None and resume.experience != experience.current_experience:
            raise RuntimeError(f"The resume point is in experience {resume.experience}, but training "
                               f"starts with experience {experience.current_experience}.")
        if resume is not None and self.train_sampler is None:
            raise RuntimeError("Resuming inside an experience needs the SeededEpochSampler of "
                               "CLIPStrategy.make_train_dataloader, to skip the batches already done.")
        first_epoch = 0 if resume is None else resume.epoch
        for self.epoch in range(first_epoch, self.experience_epochs):
            self.epoch_batches = 0
            if self.train_sampler is not None:
                self.train_sampler.set_epoch(self.epoch)
            self._before_training_epoch(**kwargs)
            if self._stop_training:  # early stopping
                self._stop_training = False
                break
            if resume is not None:  # the callbacks above have reset the counters; training goes on from here
                self.epoch_batches = resume.batch
                self.train_sampler.skip(resume.batch * self.train_mb_size)
                resume = None
            self.training_epoch(**kwargs)
            self._after_training_epoch(**kwargs)

    # ---------------------------------------------------------------- distributed

    def check_model_and_optimizer(self, **kwargs):
        """Adapt the model and the optimizer; under torch.distributed, wrap the model in DDP.

        The wrapper is rebuilt for every experience, after the parameters that train are final
        (RKR surgery, variant freezing), and released after training.
        """
        super().check_model_and_optimizer(**kwargs)
        self._ddp = None  # the previous wrapper's gradient hooks go with it
        if DistributedHelper.is_distributed:
            self._ddp = wrap_ddp(self.model, self.device, find_unused_parameters=self.find_unused_parameters)

    def _train_cleanup(self):
        super()._train_cleanup()
        self._ddp = None

    def _gather_eval_batch(self, output):
        """The logits of the global batch; ``mb_y`` and ``mb_task_id`` become the global batch's.

        Each process evaluates its shard of the experience (see :func:`shard_sampler`): the
        processes' batches, interleaved, are the stream in order, and the padding that evens out
        the shards is dropped, so every metric counts each sample once. ``mb_x`` stays the local
        images (no metric reads them).
        """
        keep = batch_rows(len(output), self._eval_position, len(self.adapted_dataset), DistributedHelper.world_size)
        self._eval_position += len(output)
        self.mbatch = [self.mbatch[0], *(gather_shards(t, keep) for t in self.mbatch[1:])]
        return gather_shards(output, keep)

    # ------------------------------------------------------------ optimizer and data

    def make_optimizer(self, reset_optimizer_state: bool = False, **kwargs):
        """Make the optimizer hold exactly the trainable parameters.

        Avalanche's version adds every parameter of the model; here frozen parameters are
        removed and new trainable ones (RKR rectifiers) added to the first parameter group.
        """
        trainable = {n: p for n, p in self.model.named_parameters() if p.requires_grad}
        self.optimized_param_id = update_optimizer(
            self.optimizer,
            trainable,
            self.optimized_param_id,
            reset_state=reset_optimizer_state,
            remove_params=True,
        )

    def make_train_dataloader(self, num_workers: int = 0, shuffle: bool = True, pin_memory: bool | None = None,
                              persistent_workers: bool = False, drop_last: bool = False, **kwargs):
        """A DataLoader over this process's shard of the adapted dataset, with the dataset's ``collate_fn``.

        With ``shuffle`` the order is :class:`SeededEpochSampler`'s, fixed by ``(seed,
        experience, epoch)`` and the same on every process; without it each epoch reads the
        dataset in order. The seeds of worker processes (their augmentation) are fixed per epoch
        by the sampler too.
        """
        args = self._obtain_common_dataloader_parameters(
            batch_size=self.train_mb_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
            drop_last=drop_last,
        )
        collate_from_data_or_kwargs(self.adapted_dataset, args)
        experience = 0 if self.experience is None else self.experience.current_experience
        self.train_sampler = SeededEpochSampler(len(self.adapted_dataset), seed=self.seed, experience=experience,
                                                shuffled=shuffle, drop_last=drop_last,
                                                num_replicas=DistributedHelper.world_size, rank=DistributedHelper.rank)
        self.dataloader = DataLoader(self.adapted_dataset, sampler=self.train_sampler,
                                     generator=self.train_sampler.worker_generator, **args)

    def make_eval_dataloader(self, num_workers: int = 0, shuffle: bool = False, pin_memory: bool | None = None,
                             persistent_workers: bool = False, **kwargs):
        """A DataLoader over this process's shard of the adapted dataset, with its ``collate_fn``.

        In order unless ``shuffle``; :meth:`forward` gathers the processes' outputs.
        """
        args = self._obtain_common_dataloader_parameters(
            batch_size=self.eval_mb_size,
            num_workers=num_workers,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers,
        )
        collate_from_data_or_kwargs(self.adapted_dataset, args)
        sampler = shard_sampler(self.adapted_dataset, shuffle=shuffle, seed=self.seed)
        self.dataloader = DataLoader(self.adapted_dataset, sampler=sampler, **args)
        self._eval_position = 0


__all__ = ["CLIPStrategy", "MaskedTargetsCheck", "TrainPosition"]
