"""RKR for CLIP: train low-rank rectifiers of the frozen model only (Singh et al. 2020).

PROTOCOL.md section 6: the whole CLIP is frozen, ``logit_scale`` included; every linear layer
inside the residual blocks of the updated tower(s) gets ``y = (W x + b + U D x) ⊙ s`` (see
:mod:`avalanche_clip.models.rectifiers`). Only ``U``, ``D`` and ``s`` train, and in MST the same
rectifiers keep training across sessions. The authors train them with lr 1e-5 (the other methods
1e-6): that is the optimizer's setting, chosen where the optimizer is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..._checks import check_positive_int
from ...models import CLIPClassifier
from ...models.rectifiers import add_rectifiers, rectifiers
from .method_plugin import MethodPlugin
from .teacher import check_clip_model

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy

UPDATED_TOWERS = {"whole": ("image", "text"), "image": ("image",), "text": ("text",)}
"""The towers RKR rectifies under each update variant (WM, IO, TO)."""


class RKRPlugin(MethodPlugin, supports_distributed=True):
    """Rectification-based knowledge retention: rectifiers on a frozen CLIP.

    The surgery happens once, in ``before_training`` of the first ``train`` call, before the
    strategy builds its optimizer for the first experience, so the optimizer holds exactly the
    rectifiers (``CLIPStrategy.make_optimizer`` drops the frozen parameters). The rectifiers live
    in the model and are saved in its ``state_dict``: to resume, call :meth:`prepare` on a fresh
    model before loading that state.

    Args:
        rank: rank ``r`` of every rectifier (default 4).
        seed: seeds the initialisation of ``U``; None: 0, or in ``experiment.run`` a seed derived
            from the run's seed (:meth:`set_seed`).
    """

    label = "RKR"
    """The method's name in reports."""

    def __init__(self, *, rank: int = 4, seed: int | None = None):
        super().__init__()
        self.rank = check_positive_int("rank", rank)
        self.seed = seed

    def set_seed(self, seed: int | None) -> None:
        """Seed the rectifiers' initialisation (before the surgery)."""
        self.seed = seed

    def before_training(self, strategy: "CLIPStrategy", **kwargs):
        self.prepare(check_clip_model(strategy.model))

    def prepare(self, model: CLIPClassifier) -> None:
        """Freeze ``model`` and add the rectifiers of its update variant, unless it already has them."""
        existing = rectifiers(model.clip)
        if not existing:
            add_rectifiers(model.clip, UPDATED_TOWERS[model.update], rank=self.rank,
                           seed=0 if self.seed is None else self.seed)
            model.invalidate_prompt_cache()
            return
        ranks = {layer.rank for layer in existing.values()}
        if ranks != {self.rank}:
            raise ValueError(f"The model already has rectifiers of rank {sorted(ranks)}, not rank={self.rank}.")


__all__ = ["RKRPlugin", "UPDATED_TOWERS"]
