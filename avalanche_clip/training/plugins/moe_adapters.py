"""MoE-Adapters for CLIP: routed adapter experts on a frozen CLIP, and DDAS (Yu et al., CVPR 2024).

The model part is :mod:`avalanche_clip.models.mixture_of_experts`. Per experience ``t`` (the task):
only router ``t`` and the experts not yet frozen train; at the start of the experience the
autoencoder of task ``t`` learns the frozen CLIP's features of the experience's training images
(one pass to encode them, then ``selector_steps`` Adam steps on the cached features); at its end
the ``freeze_per_task`` experts each block's router chose most often are frozen for good
(activate-then-freeze). With ``routing="shared"`` (the authors' class-incremental code) every
experience trains the one router and all the experts, and every image takes them: no DDAS, no
freezing. Everything lives in the model, so its ``state_dict`` is the method's state: call
:meth:`MoEAdaptersPlugin.prepare` on a fresh model before loading one.
"""

from __future__ import annotations

import logging
from typing import Iterator, Literal

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.plugins import EWCPlugin, MASPlugin, SynapticIntelligencePlugin
from avalanche.training.templates import SupervisedTemplate
from torch import Tensor, nn

from ..._checks import check_choice, check_positive, check_positive_int
from ...distributed.gather import average_across_ranks
from ...models import CLIPClassifier
from ...models.mixture_of_experts import MoEImageTower, SharedRouter, add_moe_adapters, moe_tower
from ...models.text_encoding import normalized
from ..sampling import derive_seed
from .method_plugin import MethodPlugin
from .rkr import RKRPlugin
from .teacher import check_clip_model

logger = logging.getLogger(__name__)

_FROZEN_AFTER_EXPERIENCE = ("MoE-Adapters stops every parameter from training when an experience ends, so a "
                            "parameter-importance penalty finds no gradients for its importances then")
INCOMPATIBLE = {
    RKRPlugin: "both adapt the MLPs of the frozen blocks; use one of them",
    EWCPlugin: _FROZEN_AFTER_EXPERIENCE,
    SynapticIntelligencePlugin: _FROZEN_AFTER_EXPERIENCE,
    MASPlugin: _FROZEN_AFTER_EXPERIENCE,
}
"""Plugins MoE-Adapters refuses beside it -> why."""


def train_autoencoder(autoencoder: nn.Module, features: Tensor, *, steps: int, batch_size: int, lr: float,
                      generator: torch.Generator) -> float:
    """Fit ``autoencoder`` to ``features`` ``[N, D]`` by Adam on the mean squared reconstruction distance.

    Batches are drawn with replacement by ``generator``. Returns the last batch's loss.
    """
    parameters = list(autoencoder.parameters())
    optimizer = torch.optim.Adam(parameters, lr=lr, weight_decay=1e-4)
    loss = torch.zeros(())
    with torch.enable_grad():
        for param in parameters:
            param.requires_grad_(True)
        for _ in range(steps):
            rows = torch.randint(len(features), (min(batch_size, len(features)),), generator=generator)
            batch = features[rows.to(features.device)]  # [b, D]
            loss = (autoencoder(batch) - batch).pow(2).sum(dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        for param in parameters:
            param.requires_grad_(False)
    return float(loss.detach())


def experts_to_freeze(activations: Tensor, count: int) -> Tensor:
    """The indices of the ``count`` experts chosen most often (``activations`` ``[E]``), among those chosen."""
    top = activations.topk(min(count, len(activations))).indices
    return top[activations[top] > 0]


class MoEAdaptersPlugin(MethodPlugin, supports_distributed=True):
    """MoE-Adapters: a frozen CLIP with routed adapter experts per task, and DDAS for zero-shot inputs.

    Experience ``t`` of the stream is task ``t`` (``routing="per_task"``, the paper's MTIL method).
    ``routing="shared"`` is the authors' class-incremental setting, for sessions of one domain
    such as MST: one router and every expert train in every experience, and every image takes
    them once the first experience is learned (their code: 2 experts, ``num_experts=2``).

    The adapters go into the image tower (see the README: the class prompts stay the frozen
    CLIP's); under the TO variant, which keeps the image tower, the plugin refuses to run.
    Refused beside: ``RKRPlugin`` (same MLPs). Under torch.distributed the strategy needs
    ``find_unused_parameters=True`` (experts no image chose get no gradient).

    Args:
        num_experts: experts per block (the paper's MTIL setting: 22).
        top_k: experts per image (the authors' 2).
        routing: ``per_task`` (a router and a DDAS autoencoder per task) or ``shared`` (one
            router, no DDAS, no freezing; ``max_tasks``, ``freeze_per_task``, ``threshold`` and
            the ``selector_*`` arguments are then unused).
        max_tasks: routers and autoencoders allocated, the most experiences it can learn (MTIL: 11).
        freeze_per_task: experts of each block frozen after each task (the authors' 2).
        bottleneck: the experts' width; None: ``min(64, width // 8)`` (64 for ViT-B, 16 for the world).
        code_dim: the autoencoders' code width; None: ``min(100, embed_dim // 4)`` (100 for
            ViT-B/16, 16 for the world).
        threshold: DDAS threshold on the squared reconstruction distance of unit-norm frozen
            image features; above it an image takes the frozen CLIP.
        selector_steps: Adam steps of each task's autoencoder.
        selector_lr: their learning rate.
        selector_batch_size: their batch size.
        seed: seeds the experts' and autoencoders' initialisation and the autoencoders' batches;
            None: 0, or in ``experiment.run`` a seed derived from the run's seed (:meth:`set_seed`).
    """

    label = "MoE-Adapters"
    """The method's name in reports."""

    def __init__(self, *, num_experts: int = 22, top_k: int = 2,
                 routing: Literal["per_task", "shared"] = "per_task", max_tasks: int = 11, freeze_per_task: int = 2,
                 bottleneck: int | None = None, code_dim: int | None = None, threshold: float = 0.3,
                 selector_steps: int = 500, selector_lr: float = 1e-2, selector_batch_size: int = 64,
                 seed: int | None = None):
        super().__init__()
        self.num_experts = check_positive_int("num_experts", num_experts)
        self.top_k = check_positive_int("top_k", top_k)
        if top_k > num_experts:
            raise ValueError(f"top_k must be at most num_experts={num_experts}, got {top_k!r}.")
        self.routing = check_choice("routing", routing, ("per_task", "shared"))
        if routing == "shared":
            self.label = "MoE-Adapters-shared"
        self.max_tasks = check_positive_int("max_tasks", max_tasks)
        self.freeze_per_task = check_positive_int("freeze_per_task", freeze_per_task)
        self.bottleneck = None if bottleneck is None else check_positive_int("bottleneck", bottleneck)
        self.code_dim = None if code_dim is None else check_positive_int("code_dim", code_dim)
        self.threshold = check_positive("threshold", threshold)
        self.selector_steps = check_positive_int("selector_steps", selector_steps)
        self.selector_lr = check_positive("selector_lr", selector_lr)
        self.selector_batch_size = check_positive_int("selector_batch_size", selector_batch_size)
        self.seed = seed

    def set_seed(self, seed: int | None) -> None:
        """Seed the initialisation and the autoencoders' batches (before the surgery)."""
        self.seed = seed

    def prepare(self, model: CLIPClassifier) -> None:
        """Freeze ``model`` and add the adapters and DDAS, unless it already has them (same sizes)."""
        if model.update == "text":
            raise ValueError("MoE-Adapters adapts the image tower, which the TO variant (update='text') keeps; "
                             "use update='whole' or 'image'.")
        tower = moe_tower(model.clip)
        if tower is None:
            add_moe_adapters(model.clip, num_experts=self.num_experts, num_tasks=self._routers, top_k=self.top_k,
                             bottleneck=self.bottleneck, code_dim=self.code_dim, threshold=self.threshold,
                             ddas=self.routing == "per_task", seed=0 if self.seed is None else self.seed)
            model.invalidate_prompt_cache()
            return
        layer = tower.adapted_layers()[0]
        found = (len(layer.experts), len(layer.routers), layer.top_k, isinstance(tower.selector, SharedRouter))
        wanted = (self.num_experts, self._routers, self.top_k, self.routing == "shared")
        if found != wanted:
            raise ValueError(f"The model already has MoE adapters with (num_experts, routers, top_k, shared) = "
                             f"{found}, not {wanted}.")

    @property
    def _routers(self) -> int:
        """Routers allocated: one per task, or the shared one."""
        return self.max_tasks if self.routing == "per_task" else 1

    def before_training(self, strategy: SupervisedTemplate, **kwargs):
        for plugin in strategy.plugins:
            for kind, reason in INCOMPATIBLE.items():
                if isinstance(plugin, kind):
                    raise ValueError(f"MoEAdaptersPlugin cannot be combined with {type(plugin).__name__}: "
                                     f"{reason}.")
        if DistributedHelper.is_distributed and not getattr(strategy, "find_unused_parameters", False):
            raise ValueError("MoEAdaptersPlugin under torch.distributed needs find_unused_parameters=True: "
                             "experts that no image of a step chose get no gradient.")
        self.prepare(check_clip_model(strategy.model))

    def before_train_dataset_adaptation(self, strategy: SupervisedTemplate, **kwargs):
        """Select the task's router and the unfrozen experts, before the optimizer is (re)built."""
        task = strategy.experience.current_experience if self.routing == "per_task" else 0
        if task >= self.max_tasks:
            raise ValueError(f"MoE-Adapters has routers for max_tasks={self.max_tasks} experiences; experience "
                             f"{task} needs more: raise max_tasks.")
        tower = self._tower(strategy)
        tower.train_task = task
        for layer in tower.adapted_layers():
            for index, expert in enumerate(layer.experts):
                expert.requires_grad_(not bool(layer.frozen[index]))
            layer.routers[task].requires_grad_(True)
            layer.noise_routers[task].requires_grad_(True)

    def before_training_exp(self, strategy: SupervisedTemplate, **kwargs):
        """Fit the task's autoencoder on the frozen features of the experience (once per task).

        With shared routing there is none: the router is marked learned, so that every image takes it.
        """
        tower = self._tower(strategy)
        task = tower.train_task
        if self.routing == "shared":
            tower.selector.learned[0] = True
            return
        if bool(tower.selector.learned[task]):
            return  # resumed in the middle of the task
        features = torch.cat(list(self._frozen_features(strategy, tower)))  # [N, D]
        generator = torch.Generator().manual_seed(derive_seed(0 if self.seed is None else self.seed, "ddas", task))
        autoencoder = tower.selector.autoencoders[task]
        loss = train_autoencoder(autoencoder, features, steps=self.selector_steps,
                                 batch_size=self.selector_batch_size, lr=self.selector_lr, generator=generator)
        named = dict(autoencoder.named_parameters())
        with torch.no_grad():  # identical autoencoders on every process
            for name, value in average_across_ranks(named).items():
                named[name].copy_(value)
        tower.selector.learned[task] = True
        logger.info("MoE-Adapters: task %d's autoencoder fitted on %d images (last loss %.4g).", task,
                    len(features), loss)

    def after_training_exp(self, strategy: SupervisedTemplate, **kwargs):
        """Freeze the experts the task chose most (per-task routing), and stop every parameter from training."""
        tower = self._tower(strategy)
        for layer in tower.adapted_layers():
            if self.routing == "per_task":
                layer.frozen[experts_to_freeze(layer.activations, self.freeze_per_task)] = True
            layer.activations.zero_()
        tower.train_task = None
        tower.requires_grad_(False)

    def _tower(self, strategy: SupervisedTemplate) -> MoEImageTower:
        tower = moe_tower(check_clip_model(strategy.model).clip)
        if tower is None:
            raise RuntimeError("The model has no MoE adapters: MoEAdaptersPlugin.prepare(model) adds them.")
        return tower

    def _frozen_features(self, strategy: SupervisedTemplate, tower: MoEImageTower) -> Iterator[Tensor]:
        """Normalised frozen-CLIP image features of the experience's training batches, read through ``mb_x``."""
        saved = strategy.mbatch
        try:
            with torch.no_grad():
                for strategy.mbatch in strategy.dataloader:
                    yield normalized(tower.routed(strategy.mb_x.to(strategy.device), None)).float()
        finally:
            strategy.mbatch = saved

    def state_dict(self) -> dict:
        """Empty: the adapters, routers, autoencoders and the freezing schedule are the model's state."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore (see :meth:`state_dict`)."""


__all__ = ["INCOMPATIBLE", "MoEAdaptersPlugin", "experts_to_freeze", "train_autoencoder"]
