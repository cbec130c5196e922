"""MoE-Adapters surgery: mixture-of-experts adapters and a task selector on a frozen CLIP.

Yu et al., CVPR 2024, "Boosting Continual Learning of Vision-Language Models via Mixture-of-Experts
Adapters". Every residual block of the image tower gets, beside its frozen MLP, a pool of small
adapters (experts) and one router per task: ``mlp(h) + Σ_e g_e(h) expert_e(h)`` with ``g`` the
top-k softmax of the task's router over the block's class token. The Distribution-Discriminative
Auto-Selector (DDAS) picks the task per image: one autoencoder per learned task on the frozen
CLIP's normalised image features; an image whose smallest reconstruction error is above a
threshold (or any image before a task is learned) takes the frozen CLIP path, exactly. Without
DDAS (``ddas=False``, the authors' class-incremental code) one router serves every image once it
has learned.

The class prompts stay the frozen CLIP's (no text-tower adapters), so one prompt matrix serves a
batch whose images are routed to different tasks: see the README for this and the other
differences from the authors' code.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_fraction, check_non_negative, check_positive_int
from .rectifiers import RectifiedLinear
from .text_encoding import normalized

GATE_NOISE_EPSILON = 1e-2
"""Added to the softplus noise scale of the noisy gating (as in the authors' code)."""


def top_k_gates(logits: Tensor, k: int) -> Tensor:
    """Gates ``[B, E]``: the softmax over each row's ``k`` largest ``logits`` ``[B, E]``, zero elsewhere."""
    values, indices = logits.topk(k, dim=1)  # [B, k]
    return torch.zeros_like(logits).scatter(1, indices, values.softmax(dim=1))


def gate_logits(x: Tensor, router: Tensor, noise_router: Tensor, noise: Tensor | None) -> Tensor:
    """Router logits ``[B, E]`` of ``x`` ``[B, D]``; with ``noise`` ``[B, E]`` (standard normal) the noisy ones.

    Noisy top-k gating (Shazeer et al. 2017): ``x W + noise · (softplus(x W_noise) + ε)``.
    """
    clean = x @ router.to(x.dtype)  # [B, E]
    if noise is None:
        return clean
    return clean + noise * (F.softplus(x @ noise_router.to(x.dtype)) + GATE_NOISE_EPSILON)


def mix_experts(h: Tensor, gates: Tensor, experts: Sequence[nn.Module]) -> Tensor:
    """``Σ_e gates[b, e] · expert_e(h[b])`` for ``h`` ``[B, L, D]``; each expert runs only on its samples."""
    out = torch.zeros_like(h)
    for index, expert in enumerate(experts):
        rows = gates[:, index].nonzero().squeeze(1)  # [n]
        if rows.numel():
            weight = gates[rows, index].to(h.dtype)[:, None, None]  # [n, 1, 1]
            out = out.index_add(0, rows, weight * expert(h[rows]))
    return out


def reconstruction_errors(features: Tensor, autoencoders: Sequence[nn.Module]) -> Tensor:
    """Squared reconstruction distance ``[B, T]`` of ``features`` ``[B, D]`` under each autoencoder."""
    return torch.stack([(ae(features) - features).pow(2).sum(dim=1) for ae in autoencoders], dim=1)


def select_tasks(errors: Tensor, learned: Tensor, threshold: float) -> Tensor:
    """The task of each row of ``errors`` ``[B, T]``: the learned one (``learned`` ``[T]``) with the
    smallest error, or -1 (the frozen CLIP) when that error is above ``threshold`` or none is learned."""
    masked = errors.masked_fill(~learned.to(errors.device), float("inf"))  # [B, T]
    best, task = masked.min(dim=1)  # [B]
    return torch.where(best <= threshold, task, torch.full_like(task, -1))


def _linear(in_features: int, out_features: int, generator: torch.Generator, *, zero: bool = False) -> nn.Linear:
    """An ``nn.Linear`` drawn as PyTorch's default (uniform ±1/√in) from ``generator``, or all zeros."""
    layer = nn.Linear(in_features, out_features, device="meta").to_empty(device="cpu")  # no global draw
    bound = 0.0 if zero else 1.0 / math.sqrt(in_features)
    with torch.no_grad():
        for param in (layer.weight, layer.bias):
            param.copy_((2 * torch.rand(param.shape, generator=generator) - 1) * bound)
    return layer


class Expert(nn.Module):
    """An adapter ``scale · up(dropout(relu(down(x))))``; ``up`` starts at zero, so the expert adds nothing.

    ``down``'s weight is drawn like ``nn.Linear``'s (the authors' ``kaiming_uniform_(a=√5)``), its bias is 0.
    """

    def __init__(self, width: int, bottleneck: int, *, generator: torch.Generator, dropout: float, scale: float):
        super().__init__()
        self.down = _linear(width, bottleneck, generator)
        nn.init.zeros_(self.down.bias)
        self.up = _linear(bottleneck, width, generator, zero=True)
        self.dropout = dropout
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        hidden = F.dropout(F.relu(self.down(x)), p=self.dropout, training=self.training)
        return self.up(hidden) * self.scale


class TaskRoute:
    """The task of each sample of the forward in progress (``[B]``, -1: frozen), shared by the adapted blocks.

    ``tasks`` is None outside :class:`MoEImageTower`'s forward: every block is then the frozen one.
    """

    def __init__(self):
        self.tasks: Tensor | None = None


class MoEAdaptedMLP(nn.Module):
    """A frozen block MLP plus a mixture of experts on its input, routed by the task of each sample.

    Args:
        base: the block's MLP (frozen).
        route: the shared :class:`TaskRoute`.
        width: the block's width ``D``.
        num_experts, num_tasks, top_k, bottleneck, dropout, scale: see :func:`add_moe_adapters`.
        batch_first: whether the block sees ``[B, L, D]`` (else ``[L, B, D]``).
        generator: draws the experts' down-projections.
    """

    def __init__(self, base: nn.Module, route: TaskRoute, *, width: int, num_experts: int, num_tasks: int,
                 top_k: int, bottleneck: int, dropout: float, scale: float, batch_first: bool,
                 generator: torch.Generator):
        super().__init__()
        self.base = base
        self.route = route
        self.top_k = top_k
        self.batch_first = batch_first
        self.experts = nn.ModuleList(Expert(width, bottleneck, generator=generator, dropout=dropout, scale=scale)
                                     for _ in range(num_experts))
        self.routers = nn.ParameterList(torch.zeros(width, num_experts) for _ in range(num_tasks))  # [D, E] each
        self.noise_routers = nn.ParameterList(torch.zeros(width, num_experts) for _ in range(num_tasks))
        self.register_buffer("frozen", torch.zeros(num_experts, dtype=torch.bool))  # [E]
        self.register_buffer("activations", torch.zeros(num_experts))  # [E] samples routed, this task

    def gates(self, x: Tensor, tasks: Tensor) -> Tensor:
        """Gates ``[B, E]`` of class tokens ``x`` ``[B, D]``, each by its task's router (zero for task -1)."""
        gates = x.new_zeros(len(x), len(self.experts), dtype=torch.float32)
        for task in tasks.unique().tolist():
            if task < 0:
                continue
            rows = (tasks == task).nonzero().squeeze(1)
            noise = torch.randn(len(rows), len(self.experts), device=x.device) if self.training else None
            logits = gate_logits(x[rows].float(), self.routers[task], self.noise_routers[task], noise)
            gates[rows] = top_k_gates(logits, self.top_k)
        if self.training and torch.is_grad_enabled():
            self.activations += (gates > 0).sum(dim=0).to(self.activations)
        return gates

    def forward(self, h: Tensor) -> Tensor:
        out = self.base(h)
        tasks = self.route.tasks
        if tasks is None:
            return out
        h = h if self.batch_first else h.transpose(0, 1)  # [B, L, D]
        mixed = mix_experts(h, self.gates(h[:, 0], tasks), self.experts)
        return out + (mixed if self.batch_first else mixed.transpose(0, 1))


class TaskSelector(nn.Module):
    """DDAS: one autoencoder per task on normalised frozen image features, and the threshold.

    Args:
        dim: the feature dimension ``D``.
        code_dim: the autoencoders' code width.
        num_tasks: how many autoencoders.
        threshold: the largest reconstruction distance still recognised as a learned task.
        generator: draws the initial weights.
    """

    def __init__(self, dim: int, *, code_dim: int, num_tasks: int, threshold: float, generator: torch.Generator):
        super().__init__()
        self.autoencoders = nn.ModuleList(
            nn.Sequential(_linear(dim, code_dim, generator), nn.ReLU(), _linear(code_dim, dim, generator))
            for _ in range(num_tasks)
        )
        self.threshold = threshold
        self.register_buffer("learned", torch.zeros(num_tasks, dtype=torch.bool))  # [T]

    def forward(self, features: Tensor) -> Tensor:
        """The task of each normalised feature row ``[B, D]`` (-1: frozen CLIP), ``[B]``."""
        if not bool(self.learned.any()):
            return torch.full((len(features),), -1, dtype=torch.long, device=features.device)
        return select_tasks(reconstruction_errors(features.float(), self.autoencoders), self.learned, self.threshold)


class SharedRouter(nn.Module):
    """No DDAS: a single router, which every image takes once it has learned (else the frozen CLIP)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("learned", torch.zeros(1, dtype=torch.bool))  # [1]


class MoEImageTower(nn.Module):
    """The image tower with MoE adapters: the trained task's router in training, else DDAS routing.

    In training mode with ``train_task`` set, every image takes that task's router. Otherwise the
    frozen tower runs first; DDAS picks each image's task from those features, and only images
    given a task run the tower again, adapted. With a :class:`SharedRouter` instead of DDAS every
    image takes router 0 in one pass. Attributes the tower has (``image_size``, ``output_dim``)
    are read through.
    """

    def __init__(self, tower: nn.Module, route: TaskRoute, selector: TaskSelector | SharedRouter):
        super().__init__()
        self.tower = tower
        self.route = route
        self.selector = selector
        self.train_task: int | None = None

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("tower"), name)

    def adapted_layers(self) -> list[MoEAdaptedMLP]:
        """The adapted MLPs, input to output."""
        return [m for m in self.tower.modules() if isinstance(m, MoEAdaptedMLP)]

    def routed(self, images: Tensor, tasks: Tensor | None) -> Tensor:
        """The tower's output ``[B, D]`` with each image through its task's experts (None: all frozen)."""
        self.route.tasks = tasks
        try:
            return self.tower(images)
        finally:
            self.route.tasks = None

    def forward(self, images: Tensor) -> Tensor:
        if self.training and self.train_task is not None:
            return self.routed(images, self._every_image_to(self.train_task, images))
        if isinstance(self.selector, SharedRouter):
            return self.routed(images, self._every_image_to(0, images) if bool(self.selector.learned) else None)
        frozen = self.routed(images, None)  # [B, D]
        tasks = self.selector(normalized(frozen))  # [B]
        rows = (tasks >= 0).nonzero().squeeze(1)
        if not rows.numel():
            return frozen
        return frozen.index_put((rows,), self.routed(images[rows], tasks[rows]).to(frozen.dtype))

    @staticmethod
    def _every_image_to(task: int, images: Tensor) -> Tensor:
        """The task ``[B]`` of a batch routed as a whole."""
        return torch.full((len(images),), task, dtype=torch.long, device=images.device)


def _image_blocks(clip: nn.Module) -> tuple[nn.ModuleList, bool]:
    """The residual blocks of an OpenCLIP ViT image tower and whether they run batch-first."""
    transformer = getattr(clip.visual, "transformer", None)
    blocks = getattr(transformer, "resblocks", None)
    if not isinstance(blocks, nn.ModuleList) or not all(hasattr(b, "mlp") for b in blocks):
        raise ValueError(f"MoE-Adapters needs an OpenCLIP ViT image tower (visual.transformer.resblocks with an "
                         f"mlp each), got {type(clip.visual).__name__}.")
    if any(isinstance(m, RectifiedLinear) for m in clip.visual.modules()):
        raise ValueError("The image tower has RKR rectifiers: MoE-Adapters and RKR adapt the same MLPs; "
                         "use one of them.")
    return blocks, getattr(transformer, "batch_first", True)


def add_moe_adapters(clip: nn.Module, *, num_experts: int = 22, num_tasks: int = 11, top_k: int = 2,
                     bottleneck: int | None = None, code_dim: int | None = None, threshold: float = 0.3,
                     dropout: float = 0.1, scale: float = 0.1, ddas: bool = True, seed: int = 0) -> MoEImageTower:
    """Freeze ``clip`` and give every block of its image tower MoE adapters, and DDAS.

    Args:
        clip: an OpenCLIP model with a ViT image tower.
        num_experts: experts per block, shared by every task.
        num_tasks: routers (and autoencoders): the most tasks the model can learn.
        top_k: experts per image.
        bottleneck: the experts' width; None: ``min(64, D // 8)`` for blocks of width ``D``
            (64 for ViT-B, as the authors; 16 for the world's tiny CLIP).
        code_dim: the autoencoders' code width; None: ``min(100, E // 4)`` for features of
            dimension ``E`` (100 as the authors for ViT-B/16's 512; 16 for the world's 64).
        threshold: DDAS's largest reconstruction distance (of unit-norm features) of a learned task.
        dropout: dropout inside the experts (the authors' 0.1).
        scale: the experts' output scale (the authors' 0.1).
        ddas: route by DDAS; False: one router (``num_tasks`` must be 1) for every image, the
            :class:`SharedRouter` of the authors' class-incremental code.
        seed: seeds the experts' and autoencoders' initial weights.

    Returns:
        The new image tower, now ``clip.visual``.
    """
    for name, value in (("num_experts", num_experts), ("num_tasks", num_tasks), ("top_k", top_k)):
        check_positive_int(name, value)
    if top_k > num_experts:
        raise ValueError(f"top_k must be at most num_experts={num_experts}, got {top_k!r}.")
    if not ddas and num_tasks != 1:
        raise ValueError(f"Without DDAS one router serves every task: num_tasks must be 1, got {num_tasks!r}.")
    check_non_negative("threshold", threshold)
    check_non_negative("scale", scale)
    check_fraction("dropout", dropout)
    if isinstance(clip.visual, MoEImageTower):
        raise ValueError(f"{type(clip).__name__} already has MoE adapters; the surgery happens once.")
    blocks, batch_first = _image_blocks(clip)
    width = blocks[0].mlp.c_fc.in_features
    dim = clip.visual.output_dim
    bottleneck = check_positive_int("bottleneck", min(64, width // 8) if bottleneck is None else bottleneck)
    code_dim = check_positive_int("code_dim", min(100, dim // 4) if code_dim is None else code_dim)
    clip.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    route = TaskRoute()
    factory = dict(device=clip.logit_scale.device)
    for block in blocks:
        block.mlp = MoEAdaptedMLP(block.mlp, route, width=width, num_experts=num_experts, num_tasks=num_tasks,
                                  top_k=top_k, bottleneck=bottleneck, dropout=dropout, scale=scale,
                                  batch_first=batch_first, generator=generator).to(**factory)
    selector = (TaskSelector(dim, code_dim=code_dim, num_tasks=num_tasks, threshold=threshold, generator=generator)
                if ddas else SharedRouter())
    clip.visual = MoEImageTower(clip.visual, route, selector.to(**factory))
    clip.visual.requires_grad_(False)
    return clip.visual


def moe_tower(clip: nn.Module) -> MoEImageTower | None:
    """The MoE image tower of ``clip`` (None before :func:`add_moe_adapters`)."""
    return clip.visual if isinstance(clip.visual, MoEImageTower) else None


__all__ = [
    "Expert",
    "GATE_NOISE_EPSILON",
    "MoEAdaptedMLP",
    "MoEImageTower",
    "SharedRouter",
    "TaskRoute",
    "TaskSelector",
    "add_moe_adapters",
    "gate_logits",
    "mix_experts",
    "moe_tower",
    "reconstruction_errors",
    "select_tasks",
    "top_k_gates",
]
