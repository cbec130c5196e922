"""VR-LwF, the paper's method: LwF over a vocabulary of random pseudo sentences (Ding et al. 2022).

PROTOCOL.md section 6: at every step draw M pseudo sentences ``[SOT, L−2 random ordinary token
ids, EOT]`` and, for every image, distil the teacher's softmax over those M pseudo "classes"
into the student's: L_VR = KL(softmax(s_T ĉf_T(x) ĉg_T(W)ᵀ) ‖ softmax(s ĉf(x) ĉg(W)ᵀ)).
OST: CE + α·L_VR. MST: CE + α·(L_LwF over the seen classes + L_VR), the LwF term from session 2 on.

Under torch.distributed every process builds the plugin with the same ``seed`` and takes the
same number of steps, so all processes draw the same pseudo vocabulary at every step; each
distils on its own batch and DDP averages the gradients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from ..._checks import check_non_negative, check_positive, check_positive_int
from ...models import TokenizerInfo
from .lwf import distillation_kl, prompt_distillation, similarity_logits
from .teacher import TeacherPlugin

if TYPE_CHECKING:
    from ..strategy import CLIPStrategy


def pseudo_sentences(tokenizer_info: TokenizerInfo, num: int, length: int, generator: torch.Generator) -> Tensor:
    """``num`` random sentences ``[SOT, length − 2 ids, EOT]``, zero-padded to the context, ``[num, context]``.

    The ids are uniform over the tokenizer's ordinary vocabulary (never a special token). A
    tokenizer without a start token gives ``[length − 2 ids, EOT]``. The padding costs nothing:
    the text encoder stops at the end token.
    """
    check_positive_int("num", num)
    context = tokenizer_info.context_length
    if not 3 <= length <= context:
        raise ValueError(f"length must be between 3 and the context length {context}, got {length!r}.")
    ordinary = tokenizer_info.ordinary_ids()  # [V']
    ids = ordinary[torch.randint(len(ordinary), (num, length - 2), generator=generator)]  # [M, L-2]
    start = [] if tokenizer_info.sot_id is None else [torch.full((num, 1), tokenizer_info.sot_id)]
    sentences = torch.cat([*start, ids, torch.full((num, 1), tokenizer_info.eot_id)], dim=1)
    return torch.nn.functional.pad(sentences, (0, context - sentences.shape[1]))  # [M, context]


class VRLwFPlugin(TeacherPlugin, supports_distributed=True):
    """VR-LwF: distillation over random pseudo sentences, plus LwF over the seen classes in MST.

    The LwF term is on in every session whose experience has previous classes
    (``experience.previous_classes``, see :class:`~avalanche_clip.benchmarks.CLIPExperience`):
    never in OST (its one experience has none), from the second MST session on. ``lwf_term=False``
    turns it off everywhere.

    Args:
        alpha: weight of the distillation terms (PROTOCOL.md default 0.5).
        temperature: softmax temperature of both sides (default 1).
        num_pseudo: pseudo sentences drawn at every step (M, default 100).
        pseudo_length: tokens per pseudo sentence, start and end included (L, default 10).
        lwf_term: add the LwF term over the seen classes in sessions with previous classes.
        seed: seeds the generator of the pseudo sentences; None: 0, or in ``experiment.run`` a
            seed derived from the run's seed (:meth:`set_seed`).
    """

    label = "VR-LwF"
    """The method's name in reports."""

    def __init__(
        self,
        *,
        alpha: float = 0.5,
        temperature: float = 1.0,
        num_pseudo: int = 100,
        pseudo_length: int = 10,
        lwf_term: bool = True,
        seed: int | None = None,
    ):
        super().__init__()
        self.alpha = check_non_negative("alpha", alpha)
        self.temperature = check_positive("temperature", temperature)
        self.num_pseudo = check_positive_int("num_pseudo", num_pseudo)
        if isinstance(pseudo_length, bool) or not isinstance(pseudo_length, int) or pseudo_length < 3:
            raise ValueError(f"pseudo_length must be an integer >= 3 (start, one id, end), got {pseudo_length!r}.")
        self.pseudo_length = pseudo_length
        self.lwf_term = bool(lwf_term)
        self.generator = torch.Generator()
        self.set_seed(seed)
        self._lwf_classes: list[int] = []

    def set_seed(self, seed: int | None) -> None:
        """Restart the pseudo sentences' generator from ``seed`` (None: 0)."""
        self.seed = seed
        self.generator.manual_seed(0 if seed is None else seed)

    def before_training_exp(self, strategy: "CLIPStrategy", **kwargs):
        super().before_training_exp(strategy, **kwargs)
        previous = getattr(strategy.experience, "previous_classes", None)
        if previous is None:
            raise AttributeError(
                f"{type(strategy.experience).__name__} has no previous_classes: VR-LwF reads it to "
                "know whether the LwF term applies; build the benchmark with ost_benchmark / "
                "mst_benchmark or with_class_names."
            )
        self._lwf_classes = strategy.model.seen_classes if self.lwf_term and previous else []
        strategy.model.request_text_features(self._lwf_classes)

    def before_backward(self, strategy: "CLIPStrategy", **kwargs):
        model = strategy.model
        features = model.last_features
        tokens = pseudo_sentences(model.tokenizer_info, self.num_pseudo, self.pseudo_length, self.generator)
        tokens = tokens.to(features.image.device)  # [M, context]
        student_text = model.encode_text(tokens)  # [M, D], with grad when the text tower trains
        teacher_text = self.teacher.text_features(tokens, student_text)  # [M, D]
        teacher_image = self.teacher.image_features(strategy.mb_x, features.image)  # [B, D]
        term = distillation_kl(
            similarity_logits(features.image, student_text, features.logit_scale),
            similarity_logits(teacher_image, teacher_text, self.teacher.logit_scale),
            temperature=self.temperature,
        )
        if self._lwf_classes:
            term = term + prompt_distillation(features, teacher_image, self.teacher, self._lwf_classes,
                                              temperature=self.temperature)
        strategy.loss += self.alpha * term

    def state_dict(self) -> dict:
        """The teacher and the pseudo-sentence generator's state."""
        return super().state_dict() | {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.generator.set_state(state["generator"])


__all__ = ["VRLwFPlugin", "pseudo_sentences"]
