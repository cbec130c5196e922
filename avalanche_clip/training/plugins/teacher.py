"""The teacher of the distillation methods, written once: the model at the start of a session.

PROTOCOL.md section 3: the teacher of OST is the original model; the teacher of MST session t is
the model at the end of session t−1, which is the model at the start of session t (an IMM merge
at the end of t−1 included). So :class:`TeacherPlugin` snapshots the model in
``before_training_exp``, after model adaptation and after RKR surgery (done in
``before_training``), before the first step, whatever the plugin order.

A teacher keeps only what changes. Parameters that do not train are shared with the student, not
copied; a tower that does not train at all is not run either: its teacher features are the
student's own (IO: text; TO: image; RKR: only the rectifiers are copied).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch
from torch import Tensor

from ...models import CLIPClassifier, ForwardFeatures
from ...models.text_encoding import encode_prompts, encode_text, normalized
from .method_plugin import MethodPlugin

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy


@contextmanager
def frozen_forward() -> Iterator[None]:
    """No grad, and the attention kernels of the training forward.

    Without grad, ``nn.MultiheadAttention`` takes a fused inference kernel whose results differ
    from the training kernels by ~1e-7; an unchanged student would then not distil to exactly 0.
    The global switch is restored on exit.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def check_clip_model(model: Any) -> CLIPClassifier:
    """Return ``model`` if it is a CLIPClassifier, else raise a TypeError."""
    if not isinstance(model, CLIPClassifier):
        raise TypeError(
            f"avalanche-clip method plugins need a CLIPClassifier model, got {type(model).__name__}."
        )
    return model


def select_prompt_rows(features: ForwardFeatures, class_ids: Sequence[int]) -> Tensor:
    """The rows of ``features.text`` of ``class_ids`` (which the forward must have encoded), ``[K, D]``."""
    wanted = torch.as_tensor(list(class_ids), device=features.class_ids.device)  # [K]
    index = torch.searchsorted(features.class_ids, wanted).clamp(max=len(features.class_ids) - 1)
    if not torch.equal(features.class_ids[index], wanted):
        raise RuntimeError(
            f"The forward did not encode the prompts of classes {list(class_ids)} "
            f"(it encoded {features.class_ids.tolist()}): call "
            "model.request_text_features(class_ids) in before_training_exp."
        )
    return features.text[index]


class Teacher:
    """A frozen copy of what trains in a CLIPClassifier, for distillation.

    Every method takes the student's counterpart of what it returns and gives it back detached
    when that part of the model does not train (the teacher's is then identical).

    Args:
        model: the student, at the moment the teacher is taken.
        experience: the id of the experience (session) this teacher belongs to.
    """

    def __init__(self, model: CLIPClassifier, *, experience: int):
        shared = {id(p): p for p in model.clip.parameters() if not p.requires_grad}
        self.clip = copy.deepcopy(model.clip, memo=dict(shared)).eval()
        self._shared = {n for n, p in self.clip.named_parameters() if id(p) in shared}
        for parameter in self.clip.parameters():
            parameter.requires_grad_(False)  # shared ones already are; copies of trained ones now
        self.image_changes: bool = model.image_tower_trains
        self.text_changes: bool = model.text_tower_trains
        self.experience = experience
        self._student = model
        self._prompts: dict[tuple[int, ...], Tensor] = {}

    @property
    def logit_scale(self) -> Tensor:
        """The teacher's ``exp(logit_scale)``, a scalar tensor."""
        return self.clip.logit_scale.exp()

    def image_features(self, images: Tensor, student_image: Tensor) -> Tensor:
        """Normalised image features ``[B, D]`` of ``images`` (the student's if the image tower is frozen)."""
        if not self.image_changes:
            return student_image.detach()
        with frozen_forward():
            return normalized(self.clip.encode_image(images))

    def text_features(self, tokens: Tensor, student_text: Tensor) -> Tensor:
        """Normalised text features ``[N, D]`` of ``tokens`` ``[N, L]`` (the student's if the text tower is frozen)."""
        if not self.text_changes:
            return student_text.detach()
        with frozen_forward():
            return normalized(encode_text(self.clip, tokens, trim=self._student.trim_text))

    def prompt_features(self, class_ids: Sequence[int], student_prompts: Tensor) -> Tensor:
        """Class-prompt features ``[K, D]`` of ``class_ids`` in the student's training vocabulary.

        Computed once per teacher (session) and cached; the student's if the text tower is frozen.
        """
        if not self.text_changes:
            return student_prompts.detach()
        key = tuple(int(c) for c in class_ids)
        if key not in self._prompts:
            tokens = self._student.vocabulary.tokens[list(key)].to(student_prompts.device)  # [K, T, L]
            with frozen_forward():
                self._prompts[key] = encode_prompts(self.clip, tokens, trim=self._student.trim_text)
        return self._prompts[key]

    def _own_state(self) -> dict[str, Tensor]:
        """The teacher's copied parameters and its buffers, by ``state_dict`` name."""
        return {n: t for n, t in self.clip.state_dict().items() if n not in self._shared}

    def state_dict(self) -> dict:
        """The copied parameters and the buffers (on the CPU) and the experience id."""
        return {"experience": self.experience, "tensors": {n: t.cpu() for n, t in self._own_state().items()}}

    @classmethod
    def from_state_dict(cls, model: CLIPClassifier, state: dict) -> "Teacher":
        """Rebuild a teacher of ``model`` (same structure, same frozen parameters) from its state."""
        teacher = cls(model, experience=state["experience"])
        expected = set(teacher._own_state())
        if set(state["tensors"]) != expected:
            raise ValueError(
                "The saved teacher does not match the model: it holds "
                f"{sorted(set(state['tensors']) ^ expected)[:5]} differently. Restore it on the "
                "model it was saved from (same variant, same RKR surgery)."
            )
        teacher.clip.load_state_dict(state["tensors"], strict=False)
        return teacher


class TeacherPlugin(MethodPlugin, supports_distributed=True):
    """Base of the distillation plugins: holds the :class:`Teacher` of the current session.

    The teacher is taken in ``before_training_exp`` and released in ``after_training_exp`` (the
    next session's teacher is the model at its start). ``state_dict`` holds it while a session
    runs; a teacher restored with ``load_state_dict`` is used again if training resumes on the
    same experience, and replaced by a fresh snapshot otherwise.
    """

    def __init__(self):
        super().__init__()
        self.teacher: Teacher | None = None
        self._restored: dict | None = None

    def before_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        model = check_clip_model(strategy.model)
        experience = strategy.experience.current_experience
        restored, self._restored = self._restored, None
        if restored is not None and restored["experience"] == experience:
            self.teacher = Teacher.from_state_dict(model, restored)
        else:
            self.teacher = Teacher(model, experience=experience)

    def after_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        self.teacher = None

    def state_dict(self) -> dict:
        """The current teacher, or the restored one not yet in use (None between sessions)."""
        return {"teacher": self._restored if self.teacher is None else self.teacher.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`; the teacher is rebuilt on the model at the next session start."""
        self._restored = state["teacher"]


__all__ = ["Teacher", "TeacherPlugin", "check_clip_model", "frozen_forward", "select_prompt_rows"]
