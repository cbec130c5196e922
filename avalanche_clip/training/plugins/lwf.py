"""LwF for CLIP: distil the teacher's class-prompt predictions into the student (Li & Hoiem 2016).

PROTOCOL.md section 6: CE + α · KL(softmax(s_T ĉf_T(x) ĉg_T(P)ᵀ) ‖ softmax(s ĉf(x) ĉg(P)ᵀ)) over
the class prompts P of the classes seen so far (OST: all classes; MST: every session's classes up
to the current one, from the first session on). Each side uses its own logit scale; no T² factor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor

from ..._checks import check_non_negative, check_positive
from ...models import ForwardFeatures
from .teacher import Teacher, TeacherPlugin, select_prompt_rows

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy


class _DistillationKL(torch.autograd.Function):
    """Batch-mean KL(q‖p) of softmaxes with the closed-form gradient ``(p − q) / B``.

    Autograd through ``log_softmax`` gives ``−q + p·Σq``, which leaves ~1e-8 where ``Σq`` rounds
    off 1; the closed form makes an unchanged student's gradient exactly zero.
    """

    @staticmethod
    def forward(ctx, student: Tensor, teacher: Tensor) -> Tensor:  # [B, C] each, float32
        # log_softmax subtracts the row maximum before the log-sum-exp: with logits near 100,
        # ``x − logsumexp(x)`` loses ~10× more of float32's precision
        log_p, log_q = torch.log_softmax(student, dim=-1), torch.log_softmax(teacher, dim=-1)  # [B, C]
        p, q = torch.softmax(student, dim=-1), torch.softmax(teacher, dim=-1)  # [B, C]
        ctx.save_for_backward(p, q)
        return (q * (log_q - log_p)).sum(dim=-1).mean()

    @staticmethod
    def backward(ctx, grad: Tensor):
        p, q = ctx.saved_tensors
        return grad * (p - q) / p.shape[0], None


def distillation_kl(student_logits: Tensor, teacher_logits: Tensor, *, temperature: float = 1.0) -> Tensor:
    """KL(q‖p): the batch mean of ``Σ_j q_j (log q_j − log p_j)``.

    ``q = softmax(teacher_logits / T)``, ``p = softmax(student_logits / T)``, both ``[B, C]``;
    computed in float32; no ``T²`` factor. The teacher side gets no gradient.
    """
    student = student_logits.float() / temperature
    teacher = teacher_logits.detach().float() / temperature
    return _DistillationKL.apply(student, teacher)


def similarity_logits(image: Tensor, text: Tensor, logit_scale: Tensor) -> Tensor:
    """CLIP logits ``s · image @ textᵀ`` ``[B, K]`` in float32, from ``[B, D]`` and ``[K, D]`` features."""
    return logit_scale.float() * image.float() @ text.float().T


def prompt_distillation(
    student: ForwardFeatures,
    teacher_image: Tensor,
    teacher: Teacher,
    class_ids: Sequence[int],
    *,
    temperature: float = 1.0,
) -> Tensor:
    """The LwF term over the prompts of ``class_ids``: student features from the forward, teacher's cached.

    Args:
        student: what the student's forward computed (its prompts must include ``class_ids``).
        teacher_image: the teacher's features of the same images, ``[B, D]``.
        teacher: the session's teacher.
        class_ids: the classes distilled.
        temperature: softmax temperature of both sides.
    """
    student_text = select_prompt_rows(student, class_ids)  # [K, D]
    teacher_text = teacher.prompt_features(class_ids, student_text)  # [K, D]
    return distillation_kl(
        similarity_logits(student.image, student_text, student.logit_scale),
        similarity_logits(teacher_image, teacher_text, teacher.logit_scale),
        temperature=temperature,
    )


class LwFPlugin(TeacherPlugin, supports_distributed=True):
    """Learning without Forgetting over the class prompts of every class seen so far.

    The teacher is the model at the start of each session (OST: the original model). The student's
    prompt features of the seen classes come from the forward (the plugin asks the model to encode
    them); the teacher's are computed once per session.

    Args:
        alpha: weight of the distillation term (PROTOCOL.md default 0.5).
        temperature: softmax temperature of both sides (default 1).
    """

    label = "LwF"
    """The method's name in reports."""

    def __init__(self, *, alpha: float = 0.5, temperature: float = 1.0):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        self.temperature = check_positive("temperature", temperature)
        self._classes: list[int] = []

    def before_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        super().before_training_exp(strategy, **kwargs)
        self._classes = strategy.model.seen_classes
        strategy.model.request_text_features(self._classes)

    def before_backward(self, strategy: "CLIPStrategy", **kwargs):
        features = strategy.model.last_features
        teacher_image = self.teacher.image_features(strategy.mb_x, features.image)  # [B, D]
        term = prompt_distillation(features, teacher_image, self.teacher, self._classes,
                                   temperature=self.temperature)
        strategy.loss += self.alpha * term


__all__ = ["LwFPlugin", "distillation_kl", "prompt_distillation", "similarity_logits"]
