"""IMM for CLIP: merge the model after each session with the model before it (Lee et al. 2017).

PROTOCOL.md section 6: train with CE; at the end of the session merge, over the trained
parameters, θ ← α·θ_new + (1−α)·θ_old (mean-IMM) or, per parameter, the Fisher-weighted
θ ← (α F_new θ_new + (1−α) F_old θ_old) / (α F_new + (1−α) F_old) (mode-IMM). In MST the merged
model is the next session's start and, for the distillation plugins, its teacher.

Under torch.distributed every process holds the same parameters (DDP) and merges them alike;
mode-IMM's Fishers, estimated on each process's shard, are averaged over the processes first,
so the merge stays identical everywhere.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Iterable, Iterator, Literal, Mapping, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..._checks import check_choice, check_non_negative, check_positive, check_positive_int
from ...distributed import average_across_ranks
from .method_plugin import MethodPlugin
from .teacher import check_clip_model

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy

logger = logging.getLogger(__name__)

IMMMode = Literal["mean", "mode"]
IMM_MODES: tuple[str, ...] = get_args(IMMMode)


def mean_imm(new: Tensor, old: Tensor, *, alpha: float) -> Tensor:
    """Mean-IMM: ``α·new + (1−α)·old``."""
    return alpha * new + (1 - alpha) * old


def mode_imm(new: Tensor, old: Tensor, fisher_new: Tensor, fisher_old: Tensor, *, alpha: float,
             epsilon: float = 1e-8) -> Tensor:
    """Mode-IMM: ``(α F_new new + (1−α) F_old old) / (α F_new + (1−α) F_old)``, elementwise.

    ``epsilon`` is added to both Fishers, so where neither has information the merge falls back to
    mean-IMM instead of dividing by zero.
    """
    weight_new = alpha * (fisher_new + epsilon)
    weight_old = (1 - alpha) * (fisher_old + epsilon)
    return (weight_new * new + weight_old * old) / (weight_new + weight_old)


def empirical_fisher(
    model: nn.Module,
    batches: Iterable[tuple[Tensor, Tensor]],
    parameters: Mapping[str, nn.Parameter],
) -> dict[str, Tensor]:
    """The batch-level empirical Fisher of ``parameters``, as Avalanche's EWC estimates it.

    The mean over ``batches`` of the squared gradient of the cross-entropy of the true labels
    under ``model(images)``. Gradients are taken with ``torch.autograd.grad``, so the parameters'
    ``.grad`` (the optimizer's) is left alone.
    """
    names = list(parameters)
    fisher = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in parameters.items()}
    count = 0
    for images, labels in batches:
        loss = F.cross_entropy(model(images).float(), labels)
        grads = torch.autograd.grad(loss, [parameters[n] for n in names], allow_unused=True)
        for name, grad in zip(names, grads):
            if grad is not None:
                fisher[name] += grad.float() ** 2
        count += 1
    if count == 0:
        raise ValueError("Cannot estimate a Fisher from no batches.")
    return {n: f / count for n, f in fisher.items()}


def trained_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters of ``model`` that require grad, by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


class IMMPlugin(MethodPlugin, supports_distributed=True):
    """Incremental moment matching: merge each session's result with the model before it.

    ``θ_old`` (the trained parameters only) is kept from the start of each session, before its
    first step; the merge runs in ``after_training_exp``, in place, so the next session starts
    from (and distils from) the merged model.

    Mode-IMM estimates ``F_new`` on the session's training data at the end of the session
    (one extra pass, without updating). ``F_old`` is the Fisher of the model before the session:
    in the first session, estimated at its start on that session's data (the original model's own
    data is not available); afterwards, the merged precision ``α F_new + (1−α) F_old`` of the
    previous merge, carried over.

    Args:
        alpha: weight of the new model in the merge (PROTOCOL.md default 0.5).
        mode: ``"mean"`` (mean-IMM) or ``"mode"`` (Fisher-weighted mode-IMM).
        fisher_epsilon: added to both Fishers in mode-IMM.
        fisher_batches: estimate each Fisher on at most this many batches; None: the whole
            session.
    """

    label = "IMM"
    """The method's name in reports."""

    def __init__(self, *, alpha: float = 0.5, mode: IMMMode = "mean", fisher_epsilon: float = 1e-8,
                 fisher_batches: int | None = None):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        if alpha > 1:
            raise ValueError(f"alpha must be in [0, 1] (the new model's weight in the merge), got {alpha!r}.")
        self.mode = check_choice("mode", mode, IMM_MODES)
        self.fisher_epsilon = check_positive("fisher_epsilon", fisher_epsilon)
        self.fisher_batches = None if fisher_batches is None else check_positive_int("fisher_batches", fisher_batches)
        self._experience: int | None = None
        self._old_params: dict[str, Tensor] | None = None
        self._old_fisher: dict[str, Tensor] | None = None

    def before_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        model = check_clip_model(strategy.model)
        params = trained_parameters(model)
        experience = strategy.experience.current_experience
        if self._old_params is not None and self._experience == experience:
            # restored in the middle of this session: keep its start
            self._old_params = {n: t.to(params[n].device) for n, t in self._old_params.items()}
        else:
            self._experience = experience
            self._old_params = {n: p.detach().clone() for n, p in params.items()}
        if self.mode == "mode":
            if self._old_fisher is None or set(self._old_fisher) != set(params):
                fisher = empirical_fisher(model, self._session_batches(strategy), params)
                self._old_fisher = average_across_ranks(fisher)
            self._old_fisher = {n: f.to(params[n].device) for n, f in self._old_fisher.items()}

    def after_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        params = trained_parameters(strategy.model)
        missing = set(params) - set(self._old_params)
        if missing:
            raise RuntimeError(f"IMM has no start-of-session value of {sorted(missing)[:5]}: parameters "
                               "began training in the middle of the session.")
        if self.mode == "mode":
            new_fisher = empirical_fisher(strategy.model, self._session_batches(strategy), params)
            new_fisher = average_across_ranks(new_fisher)
        with torch.no_grad():  # in place, so the model's prompt cache sees the change
            for name, param in params.items():
                old = self._old_params[name]
                if self.mode == "mean":
                    merged = mean_imm(param, old, alpha=self.alpha)
                else:
                    merged = mode_imm(param, old, new_fisher[name], self._old_fisher[name],
                                      alpha=self.alpha, epsilon=self.fisher_epsilon)
                param.copy_(merged)
        if self.mode == "mode":
            self._old_fisher = {n: mean_imm(new_fisher[n], self._old_fisher[n], alpha=self.alpha)
                                for n in params}
        self._old_params = None
        logger.info("IMM (%s) merged %d parameter tensors with alpha=%g.", self.mode, len(params), self.alpha)

    def _session_batches(self, strategy: "CLIPStrategy") -> Iterator[tuple[Tensor, Tensor]]:
        """(images, labels) of the session's training batches, read through the strategy's ``mb_x``/``mb_y``."""
        saved = strategy.mbatch
        try:
            for index, strategy.mbatch in enumerate(strategy.dataloader):
                if self.fisher_batches is not None and index >= self.fisher_batches:
                    break
                yield strategy.mb_x.to(strategy.device), strategy.mb_y.to(strategy.device)
        finally:
            strategy.mbatch = saved

    def state_dict(self) -> dict:
        """The session's start values (while a session runs) and the carried Fisher, on the CPU."""
        def cpu(tensors):
            return None if tensors is None else {n: t.detach().cpu() for n, t in tensors.items()}

        return {"experience": self._experience, "old_params": cpu(self._old_params),
                "old_fisher": cpu(self._old_fisher)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`; tensors move to the model's device at the next session start."""
        self._experience = state["experience"]
        self._old_params = state["old_params"]
        self._old_fisher = state["old_fisher"]


__all__ = ["IMMMode", "IMMPlugin", "IMM_MODES", "empirical_fisher", "mean_imm", "mode_imm", "trained_parameters"]
