"""GeoDL for CLIP: distillation along the geodesic flow between feature subspaces.

Simon et al. 2021, "On learning the geodesic path for incremental learning", with the geodesic
flow kernel of Gong et al. 2012. PROTOCOL.md section 6: CE + α·D(image features of the batch,
student vs teacher) + α·D(class-prompt features, student vs teacher), where
``D = mean_i (x_i − x_i^T)ᵀ G (x_i − x_i^T)`` and ``G = ∫₀¹ Φ(t) Φ(t)ᵀ dt`` integrates the
projection onto the subspaces along the geodesic ``Φ`` from the student's to the teacher's
subspace (top right singular vectors of each feature set), detached.

Under torch.distributed the image term's subspaces are those of each process's own batch (the
GFK is not a sum over samples), so N processes with batch size b are not exactly one process
with batch size N·b, as they are for the other methods.

Closed form (Gong et al. 2012, eqs. 5-7). Let ``P_s, P_t`` ``[D, d]`` be orthonormal bases,
``P_sᵀ P_t = U Γ Vᵀ`` with ``Γ = cos θ`` (principal angles θ), ``A = P_s U`` and
``C = P_t V − A Γ`` (the part of the teacher's basis outside the student's subspace; its column
i has norm ``sin θ_i``). With ``a = z A`` and ``c = z C`` for ``z = x − x^T``::

    zᵀ G z = Σ_i ½(1 + sinc 2θ_i) a_i² + sinc θ_i · a_i c_i + (1 − sinc 2θ_i) / (2 sin²θ_i) · c_i²

(``sinc x = sin x / x``). This is Gong's ``[A, B] Λ [A, B]ᵀ`` with the orthogonal complement
``B = −C / sin θ`` folded into ``c``, so nothing is divided by ``sin θ`` or ``θ``: every
coefficient is taken at its limit where θ → 0 (½·2 = 1, 1, ⅓), which keeps identical student
and teacher subspaces (θ = 0) finite. The subspace algebra runs in float64 on the features'
device; no D×D matrix is formed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..._checks import check_non_negative, check_positive_int
from .teacher import TeacherPlugin, select_prompt_rows

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy

_SMALL_ANGLE = 1e-3  # below it the last coefficient is its Taylor series (the formula cancels)


def subspace_basis(features: Tensor, dim: int) -> Tensor:
    """Orthonormal basis ``[D, d]`` of the top-``d`` right singular vectors of ``features`` ``[N, D]``."""
    _, _, vh = torch.linalg.svd(features, full_matrices=False)  # vh: [min(N, D), D]
    return vh[:dim].T


def _sinc(x: Tensor) -> Tensor:
    """``sin x / x`` with its limit 1 at 0."""
    return torch.sinc(x / torch.pi)


def gfk_coefficients(theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The three per-angle coefficients of ``zᵀ G z`` in the module docstring, finite at θ = 0."""
    along = 0.5 * (1 + _sinc(2 * theta))
    cross = _sinc(theta)
    safe = torch.where(theta < _SMALL_ANGLE, torch.ones_like(theta), theta)
    across = torch.where(
        theta < _SMALL_ANGLE,
        1 / 3 + 2 / 45 * theta**2,  # series of (1 − sinc 2θ) / (2 sin²θ)
        (1 - _sinc(2 * safe)) / (2 * torch.sin(safe) ** 2),
    )
    return along, cross, across


def gfk_distance(student: Tensor, teacher: Tensor, *, subspace_dim: int = 128) -> Tensor:
    """Geodesic-flow-kernel distance ``mean_i (x_i − x_i^T)ᵀ G (x_i − x_i^T)`` with ``G`` detached.

    Args:
        student: student features ``[N, D]`` (normalised); the gradient flows into them.
        teacher: teacher features ``[N, D]`` of the same inputs.
        subspace_dim: dimension ``d`` of both subspaces, capped at ``min(N, D)``.

    Returns:
        A float32 scalar: 0 for identical features, > 0 otherwise; finite for any ``N ≥ 1``.
    """
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(f"student and teacher must both be [N, D], got {tuple(student.shape)} "
                         f"and {tuple(teacher.shape)}.")
    dim = min(subspace_dim, *student.shape)
    with torch.no_grad():
        basis_s = subspace_basis(student.detach().double(), dim)  # [D, d]
        basis_t = subspace_basis(teacher.detach().double(), dim)  # [D, d]
        u, cosines, vh = torch.linalg.svd(basis_s.T @ basis_t)  # [d, d], [d], [d, d]
        theta = torch.arccos(cosines.clamp(0.0, 1.0))  # [d]
        along_s = basis_s @ u  # A [D, d]
        toward_t = basis_t @ vh.T - along_s * cosines  # C [D, d]
        along, cross, across = (c.float() for c in gfk_coefficients(theta))
    z = (student.float() - teacher.detach().float())  # [N, D]
    a = z @ along_s.float()  # [N, d]
    c = z @ toward_t.float()  # [N, d]
    return (along * a**2 + cross * a * c + across * c**2).sum(dim=1).mean()


class GeoDLPlugin(TeacherPlugin, supports_distributed=True):
    """GeoDL: geodesic-flow-kernel distillation of image and class-prompt features.

    Each term distils a tower that trains: WM both, IO the image term, TO the text term (a frozen
    tower's features equal the teacher's). The text term covers the prompts of every class seen
    so far (OST: all), as LwF does; the teacher is the model at the start of each session.

    Args:
        alpha: weight of each distance term (PROTOCOL.md default 0.5).
        subspace_dim: dimension of the feature subspaces (capped by the batch size or the number
            of classes, and the feature dimension).
    """

    label = "GeoDL"
    """The method's name in reports."""

    def __init__(self, *, alpha: float = 0.5, subspace_dim: int = 128):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        self.subspace_dim = check_positive_int("subspace_dim", subspace_dim)
        self._classes: list[int] = []

    def before_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        super().before_training_exp(strategy, **kwargs)
        self._classes = strategy.model.seen_classes if self.teacher.text_changes else []
        strategy.model.request_text_features(self._classes)

    def before_backward(self, strategy: "CLIPStrategy", **kwargs):
        features = strategy.model.last_features
        if self.teacher.image_changes:
            teacher_image = self.teacher.image_features(strategy.mb_x, features.image)  # [B, D]
            strategy.loss += self.alpha * gfk_distance(features.image, teacher_image,
                                                       subspace_dim=self.subspace_dim)
        if self.teacher.text_changes:
            student_text = select_prompt_rows(features, self._classes)  # [K, D]
            teacher_text = self.teacher.prompt_features(self._classes, student_text)  # [K, D]
            strategy.loss += self.alpha * gfk_distance(student_text, teacher_text,
                                                       subspace_dim=self.subspace_dim)


__all__ = ["GeoDLPlugin", "gfk_coefficients", "gfk_distance", "subspace_basis"]
