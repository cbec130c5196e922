"""WiSE-FT: interpolate each session's trained weights with a fixed model's (Wortsman et al. 2022).

After every experience, over the trained parameters, θ ← (1 − λ)·θ_anchor + λ·θ_trained
(:func:`~avalanche_clip.training.plugins.imm.mean_imm` with ``alpha = λ``). The anchor is the
original (zero-shot) model, or, as in the WiSE-FT baseline of ZSCL's code
(``mtil/scripts/WiSE_finetune.sh``: ``--wise_merge --wise_ft_model n --wise_ft_alpha 0.8``), the
model the session started from, i.e. the previous merge. ZSCL trains the next session from the
merged weights; training may instead continue from the trained ones, the merge then being only
what is evaluated (and what the last session leaves).

Under torch.distributed every process holds the same parameters (DDP) and merges them alike,
with no communication.
"""

from __future__ import annotations

import logging
from typing import Literal, get_args

from avalanche.training.templates import SupervisedTemplate
from torch import Tensor

from ..._checks import check_choice, check_non_negative
from .imm import mean_imm, trained_parameters
from .method_plugin import MethodPlugin
from .parameter_copies import assign_parameters, snapshot, to_cpu, to_device
from .teacher import check_clip_model

logger = logging.getLogger(__name__)

WiSEAnchor = Literal["original", "previous"]
WISE_ANCHORS: tuple[str, ...] = get_args(WiSEAnchor)
WiSEContinuation = Literal["merged", "trained"]
WISE_CONTINUATIONS: tuple[str, ...] = get_args(WiSEContinuation)


class WiSEFTPlugin(MethodPlugin, supports_distributed=True):
    """WiSE-FT: after each experience, merge the trained weights with the anchor's, in place.

    The merge writes the parameters in place under no_grad, so the model's prompt cache sees it
    (as IMM's merge). ``alpha = 1`` leaves the trained model; ``alpha = 0`` gives the anchor.

    Args:
        alpha: λ, the trained weights' share (ZSCL's WiSE-FT baseline: 0.8).
        anchor: ``"original"``: the model at the first experience's start (the zero-shot model,
            as in WiSE-FT); ``"previous"``: the previous merge (the original before the first),
            which is ZSCL's WiSE-FT baseline.
        continue_from: the next experience trains from the ``"merged"`` weights (ZSCL) or from
            the ``"trained"`` ones (the merge is then what is evaluated between experiences and
            what the last one leaves). With ``"trained"``, list this plugin before a
            distillation plugin, so that its teacher is the model that trains.
    """

    label = "WiSE-FT"
    """The method's name in reports."""

    def __init__(self, *, alpha: float = 0.8, anchor: WiSEAnchor = "original",
                 continue_from: WiSEContinuation = "merged"):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        if alpha > 1:
            raise ValueError(f"alpha must be in [0, 1] (the trained weights' share in the merge), got {alpha!r}.")
        self.anchor = check_choice("anchor", anchor, WISE_ANCHORS)
        self.continue_from = check_choice("continue_from", continue_from, WISE_CONTINUATIONS)
        self._anchor: dict[str, Tensor] | None = None
        self._trained: dict[str, Tensor] | None = None

    def before_training_exp(self, strategy: SupervisedTemplate, **kwargs):
        params = trained_parameters(check_clip_model(strategy.model))
        if self._anchor is None:  # the first experience: the original model
            self._anchor = snapshot(params)
        self._anchor = to_device(self._anchor, params)
        if self._trained is not None:  # continue_from="trained": back to the last trained weights
            assign_parameters(params, to_device(self._trained, params))
            self._trained = None

    def after_training_exp(self, strategy: SupervisedTemplate, **kwargs):
        params = trained_parameters(strategy.model)
        trained = snapshot(params)
        merged = {n: mean_imm(trained[n], self._anchor[n], alpha=self.alpha) for n in params}
        assign_parameters(params, merged)
        if self.anchor == "previous":
            self._anchor = merged
        if self.continue_from == "trained":
            self._trained = trained
        logger.info("WiSE-FT merged %d parameter tensors with alpha=%g (anchor: %s).", len(params), self.alpha,
                    self.anchor)

    def state_dict(self) -> dict:
        """The anchor weights and, between experiences with ``continue_from="trained"``, the trained ones (CPU)."""
        return {"anchor": to_cpu(self._anchor), "trained": to_cpu(self._trained)}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`; tensors move to the model's device at the next experience."""
        self._anchor = state["anchor"]
        self._trained = state["trained"]


__all__ = ["WISE_ANCHORS", "WISE_CONTINUATIONS", "WiSEAnchor", "WiSEContinuation", "WiSEFTPlugin"]
