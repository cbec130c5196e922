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

``kernel="authors"`` computes instead what GeoDL's authors' code computes
(chrysts/geodesic_continual_learning, ``GFK_distill_normalise.py``), step by step in
:func:`authors_gfk_kernel`: subspaces of dimension ``n − 2`` for ``n`` samples, each sample centred
over its features before the SVD, only the first 60 columns of the student subspace's orthogonal
complement, and an approximate HO-GSVD whose inverses are one Newton–Schulz step
``¼(3I − M/‖M‖_F)² / ‖M‖_F``; the D×D kernel is formed, in float64, and detached.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from ..._checks import check_choice, check_non_negative, check_positive_int
from .teacher import TeacherPlugin, select_prompt_rows

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy

_SMALL_ANGLE = 1e-3  # below it the last coefficient is its Taylor series (the formula cancels)
_AUTHORS_EPS = 1e-12  # the authors' guard in the kernel's coefficients, ``sin 2θ / (2θ + ε)``

GFKKernel = Literal["exact", "authors"]
GFK_KERNELS: tuple[str, ...] = get_args(GFKKernel)


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


def centred_subspace(features: Tensor, dim: int) -> Tensor:
    """The authors' subspace ``[D, dim]``: left singular vectors of ``featuresᵀ`` with each sample centred."""
    samples = features.T  # [D, N]
    _, _, vh = torch.linalg.svd((samples - samples.mean(dim=0)).T, full_matrices=False)  # vh: [N, D]
    return vh[:dim].T


def orthogonal_complement(basis: Tensor, count: int) -> Tensor:
    """The first ``count`` columns ``[D, count]`` of an orthonormal basis of the complement of ``basis`` ``[D, d]``."""
    q, _ = torch.linalg.qr(basis, mode="complete")  # [D, D]; its first d columns span ``basis``
    return q[:, basis.shape[1]:basis.shape[1] + count]


def newton_schulz_inverse(matrix: Tensor) -> Tensor:
    """The authors' approximate inverse: one Newton–Schulz step, ``¼(3I − M/‖M‖_F)² / ‖M‖_F``."""
    norm = torch.linalg.matrix_norm(matrix)
    step = 3 * torch.eye(matrix.shape[0], dtype=matrix.dtype, device=matrix.device) - matrix / norm
    return step @ step / (4 * norm)


def approximate_ho_gsvd(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """HO-GSVD of the pair ``a`` ``[m, k]``, ``b`` ``[p, k]`` with approximate inverses.

    Returns ``U_a`` ``[m, k]``, ``U_b`` ``[p, k]`` (unit columns) and ``Σ_a`` ``[k]``, from the
    shared right basis ``V`` of ``S = ½(AᵀA (BᵀB)⁻¹ + BᵀB (AᵀA)⁻¹)``.
    """
    gram_a, gram_b = a.T @ a, b.T @ b  # [k, k] each
    shared = (gram_a @ newton_schulz_inverse(gram_b) + gram_b @ newton_schulz_inverse(gram_a)) / 2
    v = torch.linalg.svd(shared)[0]  # [k, k]
    projected_a, projected_b = a @ v, b @ v  # [m, k], [p, k]
    sigma_a = projected_a.norm(dim=0)  # [k]
    return projected_a / sigma_a, projected_b / projected_b.norm(dim=0), sigma_a


def authors_gfk_kernel(student: Tensor, teacher: Tensor, *, complement_dim: int = 60) -> Tensor:
    """The GFK matrix ``G`` ``[D, D]`` (float64) as the authors' code computes it, from ``[N, D]`` features."""
    dim = min(student.shape) - 2
    source = centred_subspace(student, dim)  # [D, d]
    complement = orthogonal_complement(source, complement_dim)  # [D, c]
    target = centred_subspace(teacher, dim)  # [D, d]
    u_source, u_complement, cosines = approximate_ho_gsvd(source.T @ target, complement.T @ target)
    theta = torch.arccos(cosines.clamp(-1.0, 1.0))  # [d]
    sinc_2 = torch.sin(2 * theta) / (2 * theta + _AUTHORS_EPS)
    along = torch.diag(0.5 * (1 + sinc_2))
    cross = torch.diag(0.5 * (torch.cos(2 * theta) - 1) / (2 * theta + _AUTHORS_EPS))
    across = torch.diag(0.5 * (1 - sinc_2))
    coefficients = torch.cat([torch.cat([along, cross], 1), torch.cat([cross, across], 1)], 0)  # [2d, 2d]
    rotation = torch.block_diag(u_source, -u_complement)  # [d + c, 2d]
    basis = torch.cat([source, complement], dim=1)  # [D, d + c]
    return basis @ rotation @ coefficients @ rotation.T @ basis.T


def authors_gfk_distance(student: Tensor, teacher: Tensor, *, complement_dim: int = 60) -> Tensor:
    """``mean_i (x_i − x_i^T) G (x_i − x_i^T)ᵀ`` with the authors' ``G``, detached; both sides L2-normalised.

    Needs 3 samples or more (a subspace of ``N − 2`` dimensions); fewer give 0.
    """
    if student.shape != teacher.shape or student.dim() != 2:
        raise ValueError(f"student and teacher must both be [N, D], got {tuple(student.shape)} "
                         f"and {tuple(teacher.shape)}.")
    student, teacher = F.normalize(student.float(), dim=-1), F.normalize(teacher.detach().float(), dim=-1)
    if min(student.shape) < 3:
        return student.sum() * 0.0
    with torch.no_grad():
        kernel = authors_gfk_kernel(student.detach().double(), teacher.double(), complement_dim=complement_dim)
    z = student - teacher  # [N, D]
    return ((z @ kernel.float()) * z).sum(dim=1).mean()


class GeoDLPlugin(TeacherPlugin, supports_distributed=True):
    """GeoDL: geodesic-flow-kernel distillation of image and class-prompt features.

    Each term distils a tower that trains: WM both, IO the image term, TO the text term (a frozen
    tower's features equal the teacher's). The text term covers the prompts of every class seen
    so far (OST: all), as LwF does; the teacher is the model at the start of each session.

    Args:
        alpha: weight of each distance term (PROTOCOL.md default 0.5).
        subspace_dim: dimension of the feature subspaces (capped by the batch size or the number
            of classes, and the feature dimension); ``kernel="exact"`` only.
        kernel: ``"exact"``, the geodesic flow kernel of Gong et al. (the default, stable), or
            ``"authors"``, the computation of GeoDL's authors' code (see the module docstring);
            its runs are labelled ``GeoDL-authors``.
        complement_dim: columns of the orthogonal complement the authors' kernel keeps (their 60).
    """

    label = "GeoDL"
    """The method's name in reports (``GeoDL-authors`` with the authors' kernel)."""

    def __init__(self, *, alpha: float = 0.5, subspace_dim: int = 128, kernel: GFKKernel = "exact",
                 complement_dim: int = 60):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        self.subspace_dim = check_positive_int("subspace_dim", subspace_dim)
        self.kernel = check_choice("kernel", kernel, GFK_KERNELS)
        self.complement_dim = check_positive_int("complement_dim", complement_dim)
        if kernel == "authors":
            self.label = "GeoDL-authors"
        self._classes: list[int] = []

    def distance(self, student: Tensor, teacher: Tensor) -> Tensor:
        """The GFK distance of the chosen ``kernel`` between ``[N, D]`` feature sets."""
        if self.kernel == "authors":
            return authors_gfk_distance(student, teacher, complement_dim=self.complement_dim)
        return gfk_distance(student, teacher, subspace_dim=self.subspace_dim)

    def before_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        super().before_training_exp(strategy, **kwargs)
        self._classes = strategy.model.seen_classes if self.teacher.text_changes else []
        strategy.model.request_text_features(self._classes)

    def before_backward(self, strategy: "CLIPStrategy", **kwargs):
        features = strategy.model.last_features
        if self.teacher.image_changes:
            teacher_image = self.teacher.image_features(strategy.mb_x, features.image)  # [B, D]
            strategy.loss += self.alpha * self.distance(features.image, teacher_image)
        if self.teacher.text_changes:
            student_text = select_prompt_rows(features, self._classes)  # [K, D]
            teacher_text = self.teacher.prompt_features(self._classes, student_text)  # [K, D]
            strategy.loss += self.alpha * self.distance(student_text, teacher_text)


__all__ = [
    "GFK_KERNELS",
    "GFKKernel",
    "GeoDLPlugin",
    "approximate_ho_gsvd",
    "authors_gfk_distance",
    "authors_gfk_kernel",
    "centred_subspace",
    "gfk_coefficients",
    "gfk_distance",
    "newton_schulz_inverse",
    "orthogonal_complement",
    "subspace_basis",
]
