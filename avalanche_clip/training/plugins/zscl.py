"""ZSCL: distil the original CLIP on reference data, and average the weights (Zheng et al. 2023).

Each step adds, on a batch of reference images (belonging to no task) and the reference captions,
the distillation of the original model's image→text and text→image distributions
(:func:`zscl_distillation`, temperature 2, ``T²``-scaled as in the authors' code), and optionally
``l2_weight · ‖θ − θ_original‖²`` over the trained parameters. Every ``we_every`` steps the
weights join a running average (weight ensembling, "WE"; the session's start counts as its first
member), and at the end of each experience the model becomes that average.

As in the authors' code (``mtil/src/models/finetune.py``, ``cil/continual_clip/models.py``), the
student's logits on the reference set are its image features against the *original* model's
text features of the captions (``student_text=False``): only the image tower is distilled.
``student_text=True`` uses the student's own text features of the captions, which distils the
text tower too (under TO the default distillation is zero: the image tower is frozen).

The teacher is the original model and never changes: its features of every reference image and
caption are computed once, at the first experience's start (images with the model's evaluation
transform, no augmentation), and kept; each step only runs the student.

Under torch.distributed every process computes the same teacher features and draws the same
indices from the same generator; process ``r`` distils on the ``r``-th slice of them, so the
group distils on ``world_size × ref_batch_size`` distinct images. The image→text term is a mean
over images, so N processes take one process's step on the whole draw; the text→image term is a
softmax over each process's own slice (its images are not gathered), so it is not the term of one
process with N times the batch.
"""

from __future__ import annotations

import logging
from typing import Mapping

import torch
from avalanche.distributed import DistributedHelper
from avalanche.training.templates import SupervisedTemplate
from torch import Tensor
from torch.utils.data import DataLoader

from ..._checks import check_non_negative, check_positive, check_positive_int
from ...benchmarks.datasets.files import require_dir, require_file
from ...benchmarks.datasets.reference_data import (
    REFERENCE_CAPTIONS_HINT,
    REFERENCE_IMAGES_HINT,
    ReferenceSet,
    reference_set_from_files,
)
from ...benchmarks.transforms import clip_eval_transform
from ...models import CLIPClassifier
from .imm import trained_parameters
from .lwf import distillation_kl, similarity_logits
from .method_plugin import MethodPlugin
from .parameter_copies import assign_parameters, snapshot, to_cpu, to_device
from .teacher import check_clip_model, frozen_forward

logger = logging.getLogger(__name__)

ENCODE_CHUNK = 256
"""Images or captions per forward when the teacher features are computed."""


def zscl_distillation(student_image: Tensor, teacher_image: Tensor, student_text: Tensor, teacher_text: Tensor,
                      student_scale: Tensor, teacher_scale: Tensor, *, temperature: float = 2.0,
                      image_weight: float = 1.0, text_weight: float = 1.0) -> Tensor:
    """ZSCL's loss: ``T²·(w_i·KL_i2t + w_t·KL_t2i)`` between the teacher's and the student's reference logits.

    The logits are ``scale · image @ textᵀ`` ``[B, N]`` from normalised image features ``[B, D]`` and
    text features ``[N, D]``, each side with its own scale. ``KL_i2t`` is the batch mean over the
    B images of the KL between softmaxes over the N captions (:func:`distillation_kl` at
    ``temperature``); ``KL_t2i`` the mean over the N captions of the KL over the B images. The
    authors' code uses the soft cross-entropy, which is this plus the teacher's entropy (a
    constant): same gradients, and zero for a student equal to its teacher.
    """
    scores_student = similarity_logits(student_image, student_text, student_scale)  # [B, N]
    scores_teacher = similarity_logits(teacher_image, teacher_text, teacher_scale)  # [B, N]
    loss_i2t = distillation_kl(scores_student, scores_teacher, temperature=temperature)
    loss_t2i = distillation_kl(scores_student.T, scores_teacher.T, temperature=temperature)
    return temperature ** 2 * (image_weight * loss_i2t + text_weight * loss_t2i)


def running_average(average: Tensor, current: Tensor, count: int) -> Tensor:
    """The average of ``count`` members and ``current``: ``(average · count + current) / (count + 1)``."""
    return (average * count + current) / (count + 1)


def l2_distance(params: Mapping[str, Tensor], anchor: Mapping[str, Tensor]) -> Tensor:
    """``Σ ‖θ − θ_anchor‖²`` over ``params`` (the authors' ``mse_loss(reduction="sum")`` summed), float32."""
    return sum(((p.float() - anchor[n].float()) ** 2).sum() for n, p in params.items())


def encode_reference(model: CLIPClassifier, reference: ReferenceSet, device: torch.device) -> tuple[Tensor, Tensor]:
    """Normalised features of every reference image ``[R, D]`` and caption ``[N, D]``, float32, no grad."""
    tokens = model.tokenizer(list(reference.captions))  # [N, L]
    with frozen_forward():
        image = torch.cat([model.encode_image(batch.to(device)).float()
                           for batch in DataLoader(reference.images, batch_size=ENCODE_CHUNK)])
        text = torch.cat([model.encode_text(chunk.to(device)).float() for chunk in tokens.split(ENCODE_CHUNK)])
    return image, text


class ZSCLPlugin(MethodPlugin, supports_distributed=True):
    """ZSCL: distillation from the original CLIP on a reference set, weight ensembling, optional L2.

    The reference set is the user's (``reference_images``: a folder of images, e.g. ImageNet's
    train/; ``reference_captions``: one caption per line, e.g. Conceptual Captions), or, when
    neither is given, scenes of the embedded world's pretraining distribution with their five
    captions each (:func:`~avalanche_clip.benchmarks.world.reference_scenes.world_reference_set`),
    so that it runs with no download.

    Args:
        image_weight: weight of the image→text distillation (the authors' MTIL script: 1).
        text_weight: weight of the text→image distillation (the authors' MTIL script: 1).
        temperature: softmax temperature of both sides (the paper: 2); the terms are scaled by T².
        we_every: add the weights to the running average every this many steps, from the first
            (the authors: 100); at the end of each experience the model becomes the average.
            None: no weight ensembling.
        l2_weight: weight of ``Σ ‖θ − θ_original‖²`` over the trained parameters (0: off).
        reference_images: the folder of reference images; with ``reference_captions``.
        reference_captions: the text file of reference captions; with ``reference_images``.
        max_reference_images: keep at most this many reference images (a seeded subset); for the
            world's reference set, the number of scenes (default 256). None: every image.
        ref_batch_size: reference images per step and process; None: the training batch size.
        texts_per_step: captions drawn per step; None: every caption at every step (the authors).
        student_text: the student's logits use its own text features of the captions (distils
            the text tower) instead of the original model's (the authors' code).
        seed: seeds the reference draws; None: 0, or in ``experiment.run`` a seed derived from
            the run's seed (:meth:`set_seed`).
    """

    label = "ZSCL"
    """The method's name in reports."""

    def __init__(
        self,
        *,
        image_weight: float = 1.0,
        text_weight: float = 1.0,
        temperature: float = 2.0,
        we_every: int | None = 100,
        l2_weight: float = 0.0,
        reference_images: str | None = None,
        reference_captions: str | None = None,
        max_reference_images: int | None = None,
        ref_batch_size: int | None = None,
        texts_per_step: int | None = None,
        student_text: bool = False,
        seed: int | None = None,
    ):
        super().__init__()
        self.image_weight = check_non_negative("image_weight", image_weight)
        self.text_weight = check_non_negative("text_weight", text_weight)
        self.temperature = check_positive("temperature", temperature)
        self.we_every = None if we_every is None else check_positive_int("we_every", we_every)
        self.l2_weight = check_non_negative("l2_weight", l2_weight)
        self.reference_images, self.reference_captions = _check_reference_paths(reference_images, reference_captions)
        self.max_reference_images = _optional_positive_int("max_reference_images", max_reference_images)
        self.ref_batch_size = _optional_positive_int("ref_batch_size", ref_batch_size)
        self.texts_per_step = _optional_positive_int("texts_per_step", texts_per_step)
        self.student_text = bool(student_text)
        self.generator = torch.Generator()
        self.set_seed(seed)
        self._reference: ReferenceSet | None = None
        self._tokens: Tensor | None = None
        self._teacher: dict[str, Tensor] | None = None  # image [R, D], text [N, D], scale []
        self._original: dict[str, Tensor] | None = None
        self._session: dict | None = None  # experience, step, count, average
        self._batch = 0

    def set_seed(self, seed: int | None) -> None:
        """Restart the reference draws' generator from ``seed`` (None: 0)."""
        self.seed = seed
        self.generator.manual_seed(0 if seed is None else seed)

    def before_training_exp(self, strategy: SupervisedTemplate, **kwargs):
        model = check_clip_model(strategy.model)
        params = trained_parameters(model)
        device = model.logit_scale.device
        self._prepare_reference(model, device)
        if self.l2_weight > 0 and self._original is None:
            self._original = snapshot(params)  # the first experience's start: the original model
        self._original = to_device(self._original, params)
        self._batch = self.ref_batch_size or strategy.train_mb_size
        wanted = DistributedHelper.world_size * self._batch
        if len(self._teacher["image"]) < wanted:
            raise ValueError(f"The reference set has {len(self._teacher['image'])} images, fewer than the "
                             f"{wanted} a step draws (ref_batch_size {self._batch} x {DistributedHelper.world_size} "
                             "processes): give more reference images or a smaller ref_batch_size.")
        experience = strategy.experience.current_experience
        session = self._session
        if session is None or session["experience"] != experience or session["step"] is None:
            session = {"experience": experience, "step": 0, "count": 1,
                       "average": snapshot(params) if self.we_every else None}
        session["average"] = to_device(session["average"], params)
        self._session = session
        if not model.image_tower_trains and not (self.student_text and model.text_tower_trains):
            logger.warning("ZSCL's distillation is zero: the image tower does not train and student_text is off "
                           "(only weight ensembling and the L2 term act). Set student_text=True to distil the text "
                           "tower.")

    def _prepare_reference(self, model: CLIPClassifier, device: torch.device) -> None:
        """Load the reference set; the first time, compute the (original) teacher's features of it."""
        if self._reference is None:
            self._reference = self._load_reference(model)
            self._tokens = model.tokenizer(list(self._reference.captions)) if self.student_text else None
        if self._teacher is None:
            image, text = encode_reference(model, self._reference, device)
            self._teacher = {"image": image, "text": text, "scale": model.logit_scale.detach().exp().float()}
        self._teacher = {n: t.to(device) for n, t in self._teacher.items()}
        sizes = (len(self._reference.images), len(self._reference.captions))
        if sizes != (len(self._teacher["image"]), len(self._teacher["text"])):
            raise ValueError(f"The reference set has {sizes[0]} images and {sizes[1]} captions, but the restored "
                             f"teacher features are of {len(self._teacher['image'])} and "
                             f"{len(self._teacher['text'])}: resume with the same reference set.")

    def _load_reference(self, model: CLIPClassifier) -> ReferenceSet:
        transform = clip_eval_transform(model.image_size, model.image_mean, model.image_std)
        if self.reference_images is None:
            from ...benchmarks.world.reference_scenes import REFERENCE_SCENES, world_reference_set

            reference = world_reference_set(self.max_reference_images or REFERENCE_SCENES, transform=transform)
        else:
            reference = reference_set_from_files(self.reference_images, self.reference_captions, transform=transform,
                                                 max_images=self.max_reference_images)
        logger.info("ZSCL reference set: %d images, %d captions (%s).", len(reference.images),
                    len(reference.captions), self.reference_images or "the world's reference scenes")
        return reference

    def before_backward(self, strategy: SupervisedTemplate, **kwargs):
        model = strategy.model
        index = self._draw_images()  # [B]
        teacher_image = self._teacher["image"][index]  # [B, D]
        student_image = teacher_image
        if model.image_tower_trains:
            images = torch.stack([self._reference.images[i] for i in index.tolist()])  # [B, 3, H, W]
            student_image = model.encode_image(images.to(teacher_image.device))
        texts = self._draw_texts()  # [N'] or None: every caption
        teacher_text = self._teacher["text"] if texts is None else self._teacher["text"][texts]  # [N', D]
        student_text = teacher_text
        if self.student_text and model.text_tower_trains:
            tokens = self._tokens if texts is None else self._tokens[texts]
            student_text = model.encode_text(tokens.to(teacher_text.device))
        term = zscl_distillation(student_image, teacher_image, student_text, teacher_text,
                                 model.logit_scale.exp(), self._teacher["scale"], temperature=self.temperature,
                                 image_weight=self.image_weight, text_weight=self.text_weight)
        if self.l2_weight > 0:
            term = term + self.l2_weight * l2_distance(trained_parameters(model), self._original)
        strategy.loss += term

    def _draw_images(self) -> Tensor:
        """This process's slice of one draw of distinct reference images, the same draw on every process."""
        drawn = torch.randperm(len(self._teacher["image"]), generator=self.generator)
        rank = DistributedHelper.rank
        return drawn[rank * self._batch:(rank + 1) * self._batch]

    def _draw_texts(self) -> Tensor | None:
        count = len(self._teacher["text"])
        if self.texts_per_step is None or self.texts_per_step >= count:
            return None
        return torch.randperm(count, generator=self.generator)[: self.texts_per_step]

    def after_training_iteration(self, strategy: SupervisedTemplate, **kwargs):
        session = self._session
        if self.we_every is not None and session["step"] % self.we_every == 0:
            params = trained_parameters(strategy.model)
            session["average"] = {n: running_average(session["average"][n], p.detach(), session["count"])
                                  for n, p in params.items()}
            session["count"] += 1
        session["step"] += 1

    def after_training_exp(self, strategy: SupervisedTemplate, **kwargs):
        session = self._session
        if session["average"] is not None:
            assign_parameters(trained_parameters(strategy.model), session["average"])
            logger.info("ZSCL: the model is the average of %d weight sets.", session["count"])
        self._session = {"experience": session["experience"], "step": None, "count": 0, "average": None}

    def state_dict(self) -> dict:
        """The teacher's reference features, the original weights (L2), the session's average, the generator (CPU)."""
        session = self._session and {**self._session, "average": to_cpu(self._session["average"])}
        return {"teacher": to_cpu(self._teacher), "original": to_cpu(self._original), "session": session,
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`; tensors move to the model's device at the next experience."""
        self._teacher, self._original, self._session = state["teacher"], state["original"], state["session"]
        self.generator.set_state(state["generator"])


def _optional_positive_int(name: str, value: int | None) -> int | None:
    return None if value is None else check_positive_int(name, value)


def _check_reference_paths(images: str | None, captions: str | None) -> tuple[str | None, str | None]:
    """Both paths or neither; given ones must exist (listing the images waits for the first experience)."""
    if (images is None) != (captions is None):
        raise ValueError(f"Give both reference_images and reference_captions, or neither (the world's reference "
                         f"scenes); got reference_images={images!r}, reference_captions={captions!r}.")
    if images is not None:
        require_dir(images, what="reference image folder", get=REFERENCE_IMAGES_HINT)
        require_file(captions, what="reference captions file", get=REFERENCE_CAPTIONS_HINT)
    return images, captions


__all__ = ["ZSCLPlugin", "encode_reference", "l2_distance", "running_average", "zscl_distillation"]
