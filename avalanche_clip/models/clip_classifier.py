"""CLIP as an Avalanche model: image features against the text features of class prompts.

There is no linear head (PROTOCOL.md section 4). Class ``c``'s weight is the normalised text
feature of its prompt, so the classifier grows, shrinks or changes its vocabulary by reading
``experience.class_names``, and in the WM and TO variants the class weights train through the
text tower.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal, Sequence, get_args

import torch
from avalanche.models import DynamicModule
from torch import Tensor, nn

from .._checks import check_choice, check_templates
from .loading import create_clip
from .prompt_vocabulary import DEFAULT_TEMPLATES, PromptVocabulary
from .text_encoding import encode_prompts, encode_text, normalized, text_lengths
from .tokenizer_info import TokenizerInfo, describe_tokenizer
from .variants import UpdateVariant, apply_update_variant, tower_parameters

TrainMask = Literal["current", "seen", "none"]
TRAIN_MASKS: tuple[str, ...] = get_args(TrainMask)


@dataclass(frozen=True)
class ForwardFeatures:
    """What the last forward computed, for plugins that must not recompute it.

    Attributes:
        image: normalised image features ``[B, D]``.
        text: normalised prompt features ``[K, D]`` of the classes in ``class_ids``.
        class_ids: the class id of each row of ``text``, ``[K]``.
        logit_scale: ``exp(logit_scale)``, a scalar tensor.
    """

    image: Tensor
    text: Tensor
    class_ids: Tensor
    logit_scale: Tensor


class CLIPClassifier(DynamicModule):
    """An OpenCLIP model and its tokenizer as an Avalanche classifier over prompt features.

    ``forward(images)`` returns ``[B, C]`` logits ``exp(logit_scale) * cos(image, prompt_c)`` over
    the current vocabulary. ``adaptation(experience)`` takes the vocabulary from
    ``experience.class_names`` (and ``experience.prompt_templates`` when present). While training
    the logits of classes the cross-entropy may not see are ``-inf`` (``train_mask``); in eval
    every class is scored. The training and the eval vocabularies are kept apart, so an eval on
    another stream in the middle of training (periodic eval, zero-shot streams) does not change
    what training sees.

    Prompt features are encoded with grad at every forward that autograd records while the text
    tower trains (training steps, and eval-mode gradient passes such as EWC's importances);
    otherwise they are cached until a text-tower parameter changes in place (optimizer steps,
    ``load_state_dict``, merges under ``torch.no_grad``). Writing through ``.data`` is invisible
    to that check: call :meth:`invalidate_prompt_cache` after such an edit.

    Args:
        clip: an OpenCLIP model (``CLIP``, ``CustomTextCLIP``).
        tokenizer: its OpenCLIP tokenizer.
        update: which part trains: ``"whole"`` (WM), ``"image"`` (IO) or ``"text"`` (TO).
        templates: prompt templates with one ``{}``; several are ensembled.
        train_mask: which classes the training logits keep: those of the ``"current"``
            experience (MST), all ``"seen"`` so far (use it with replay), or ``"none"``.
        preprocess_cfg: OpenCLIP's preprocessing config (``size``, ``mean``, ``std``).
        trim_text: run the text transformer only up to the last end-of-text token of each batch
            (exact for OpenCLIP's causal text towers, see
            :mod:`~avalanche_clip.models.text_encoding`); False runs the whole context, as
            OpenCLIP does. Every text path of the library (prompts, teachers, pseudo sentences,
            evaluation) follows this attribute.
    """

    def __init__(
        self,
        clip: nn.Module,
        tokenizer: Any,
        *,
        update: UpdateVariant = "whole",
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        train_mask: TrainMask = "current",
        preprocess_cfg: dict | None = None,
        trim_text: bool = True,
    ):
        super().__init__()
        self.clip = clip
        self.tokenizer = tokenizer
        self.tokenizer_info: TokenizerInfo = describe_tokenizer(tokenizer)
        self.update = update
        apply_update_variant(clip, update)
        self.templates = check_templates(templates)
        self.train_mask = check_choice("train_mask", train_mask, TRAIN_MASKS)
        self.trim_text = bool(trim_text)
        preprocess_cfg = preprocess_cfg or {}
        size = preprocess_cfg.get("size", getattr(clip.visual, "image_size", 224))
        self.image_size: int = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.image_mean: tuple[float, ...] = tuple(preprocess_cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.image_std: tuple[float, ...] = tuple(preprocess_cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))

        self._train_vocabulary: PromptVocabulary | None = None
        self._eval_vocabulary: PromptVocabulary | None = None
        self._train_classes: list[int] | None = None
        self._seen_classes: set[int] = set()
        self._requested_classes: set[int] = set()
        self._prompt_cache: tuple[tuple, Tensor] | None = None
        self.last_features: ForwardFeatures | None = None

    @classmethod
    def from_pretrained(
        cls,
        name: str,
        pretrained: str | None = None,
        *,
        update: UpdateVariant = "whole",
        templates: Sequence[str] = DEFAULT_TEMPLATES,
        train_mask: TrainMask = "current",
        device: str | torch.device = "cpu",
        cache_dir: str | None = None,
        trim_text: bool = True,
    ) -> "CLIPClassifier":
        """Build any OpenCLIP model by name, random or with weights from a tag or a file.

        ``pretrained`` is None (random init), an OpenCLIP tag such as ``"openai"`` (needs the
        internet or a cached file), or the path of a checkpoint file. See :class:`CLIPClassifier`
        for the other arguments.
        """
        clip, tokenizer, preprocess_cfg = create_clip(name, pretrained, device=device, cache_dir=cache_dir)
        return cls(clip, tokenizer, update=update, templates=templates, train_mask=train_mask,
                   preprocess_cfg=preprocess_cfg, trim_text=trim_text)

    # ----------------------------------------------------------------------- encoders

    @property
    def logit_scale(self) -> nn.Parameter:
        """The log of the logit scale (the trainable parameter; the scale is its ``exp``)."""
        return self.clip.logit_scale

    def encode_image(self, images: Tensor, *, normalize: bool = True) -> Tensor:
        """Image features ``[B, D]``, L2-normalised unless ``normalize=False``."""
        features = self.clip.encode_image(images)
        return normalized(features) if normalize else features

    def encode_text(self, tokens: Tensor, *, normalize: bool = True) -> Tensor:
        """Text features ``[N, D]`` of ``tokens`` ``[N, L]``, on trimmed sequences unless ``trim_text`` is off."""
        features = encode_text(self.clip, tokens, trim=self.trim_text)
        return normalized(features) if normalize else features

    def encode_prompts(self, tokens: Tensor) -> Tensor:
        """Class features ``[C, D]`` from prompt tokens ``[C, T, L]``: template-ensembled, normalised."""
        return encode_prompts(self.clip, tokens, trim=self.trim_text)

    def text_lengths(self, tokens: Tensor) -> Tensor:
        """How many positions the text transformer runs for each row of ``tokens`` ``[N, L]``, ``[N]``.

        Texts of similar lengths batched together make shorter trimmed batches.
        """
        return text_lengths(self.clip, tokens, trim=self.trim_text)

    @property
    def image_tower_trains(self) -> bool:
        """Whether any image-tower parameter (RKR rectifiers included) requires grad."""
        return any(p.requires_grad for p in tower_parameters(self.clip, "image"))

    @property
    def text_tower_trains(self) -> bool:
        """Whether any text-tower parameter (RKR rectifiers included) requires grad."""
        return any(p.requires_grad for p in tower_parameters(self.clip, "text"))

    # --------------------------------------------------------------------- vocabulary

    @property
    def vocabulary(self) -> PromptVocabulary:
        """The vocabulary ``forward`` scores in the current mode (train or eval)."""
        vocabulary = self._train_vocabulary if self.training else self._eval_vocabulary
        vocabulary = vocabulary or self._train_vocabulary or self._eval_vocabulary
        if vocabulary is None:
            raise RuntimeError(
                "CLIPClassifier has no vocabulary yet: train or evaluate it on an experience "
                "that has class_names (ost_benchmark / mst_benchmark), or call set_vocabulary()."
            )
        return vocabulary

    @property
    def class_names(self) -> tuple[str, ...]:
        """The class names of the current vocabulary (index = class id)."""
        return self.vocabulary.class_names

    def set_vocabulary(self, class_names: Sequence[str], templates: Sequence[str] | None = None) -> None:
        """Score ``class_names`` in both modes, without masking; for use outside a strategy."""
        vocabulary = self._vocabulary(class_names, templates or self.templates)
        self._train_vocabulary = self._eval_vocabulary = vocabulary
        self._train_classes = None

    def _vocabulary(self, class_names: Sequence[str], templates: Sequence[str]) -> PromptVocabulary:
        for known in (self._train_vocabulary, self._eval_vocabulary):
            if known is not None and known.describes(class_names, templates):
                return known
        return PromptVocabulary.build(class_names, templates, self.tokenizer)

    def adaptation(self, experience: Any) -> None:
        """Take the vocabulary of ``experience``; in training also the classes CE may see.

        A training vocabulary other than the previous one (MTIL's next dataset) starts
        :attr:`seen_classes` afresh.
        """
        class_names = getattr(experience, "class_names", None)
        if class_names is None:
            raise AttributeError(
                f"{type(experience).__name__} has no class_names: build the benchmark with "
                "avalanche_clip.benchmarks.ost_benchmark / mst_benchmark, or decorate it with "
                "avalanche_clip.benchmarks.with_class_names."
            )
        templates = getattr(experience, "prompt_templates", None) or self.templates
        vocabulary = self._vocabulary(class_names, templates)
        if not self.training:
            self._eval_vocabulary = vocabulary
            return
        if self._train_vocabulary is not None and vocabulary is not self._train_vocabulary:
            self._seen_classes = set()  # ids of another vocabulary (MTIL's previous dataset) name nothing here
        self._train_vocabulary = vocabulary
        current = getattr(experience, "classes_in_this_experience", None)
        current = set(range(len(vocabulary))) if current is None else {int(c) for c in current}
        self._seen_classes |= current
        self._requested_classes = set()
        self._train_classes = {
            "current": sorted(current),
            "seen": sorted(self._seen_classes),
            "none": None,
        }[self.train_mask]

    @property
    def train_classes(self) -> list[int] | None:
        """Classes whose training logits are kept (None: all)."""
        return self._train_classes

    @property
    def seen_classes(self) -> list[int]:
        """Every class of every experience trained on so far with the current training vocabulary, sorted."""
        return sorted(self._seen_classes)

    def request_text_features(self, class_ids: Iterable[int]) -> None:
        """Also encode these classes' prompts in every training forward of this experience.

        A plugin that needs the student's prompt features of more classes than the mask keeps
        (LwF over the seen classes) asks here, in ``before_training_exp``, and reads them from
        :attr:`last_features` instead of encoding them again.
        """
        self._requested_classes |= {int(c) for c in class_ids}

    # ------------------------------------------------------------------ prompt features

    def _prompt_cache_key(self, vocabulary: PromptVocabulary, device: torch.device) -> tuple:
        autocast = torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None
        # Autograd's version counter (private, but what its in-place checks rely on) sees every in-place write by
        # anyone (an optimizer of a user's own loop, a merge, a load): a counter we bump would miss those.
        versions = tuple((id(p), p._version) for p in tower_parameters(self.clip, "text"))
        return (id(vocabulary), device, autocast, self.trim_text, versions)

    def invalidate_prompt_cache(self) -> None:
        """Forget cached prompt features (needed only after edits through ``.data``)."""
        self._prompt_cache = None

    def prompt_features(self, class_ids: Sequence[int] | None = None) -> Tensor:
        """Normalised prompt features ``[K, D]`` of ``class_ids`` (default: every class).

        With grad when grad is enabled and the text tower trains, else from the cache.
        """
        vocabulary = self.vocabulary
        device = self.clip.logit_scale.device
        if class_ids is not None and list(class_ids) == list(range(len(vocabulary))):
            class_ids = None
        if torch.is_grad_enabled() and self.text_tower_trains:
            tokens = vocabulary.tokens if class_ids is None else vocabulary.tokens[list(class_ids)]
            return self.encode_prompts(tokens.to(device))
        key = self._prompt_cache_key(vocabulary, device)
        if self._prompt_cache is None or self._prompt_cache[0] != key:
            with torch.no_grad():
                features = self.encode_prompts(vocabulary.tokens.to(device)).float()
            # recomputed: encoding under no_grad changes no version, so the key still holds
            self._prompt_cache = (key, features)
        features = self._prompt_cache[1]
        return features if class_ids is None else features[list(class_ids)]

    # ------------------------------------------------------------------------ forward

    def forward(self, images: Tensor) -> Tensor:
        """Class logits ``[B, C]`` over the current vocabulary; masked with ``-inf`` in training."""
        num_classes = len(self.vocabulary)
        masked = self.training and self._train_classes is not None
        if masked:
            class_ids = sorted(set(self._train_classes) | self._requested_classes)
        else:
            class_ids = list(range(num_classes))
        image = self.encode_image(images)  # [B, D]
        text = self.prompt_features(class_ids)  # [K, D]
        scale = self.clip.logit_scale.exp()
        scores = scale * image @ text.to(image.dtype).T  # [B, K]
        if getattr(self.clip, "logit_bias", None) is not None:
            scores = scores + self.clip.logit_bias
        ids = torch.tensor(class_ids, device=scores.device)
        self.last_features = ForwardFeatures(image=image, text=text, class_ids=ids, logit_scale=scale)
        if not masked:
            return scores
        kept = torch.isin(ids, torch.tensor(self._train_classes, device=ids.device))  # [K]
        logits = scores.new_full((scores.shape[0], num_classes), float("-inf"))
        logits[:, ids[kept]] = scores[:, kept]
        return logits

    # ------------------------------------------------------------------- persistence

    def __getstate__(self) -> dict:
        """What ``copy.deepcopy`` and ``pickle`` keep: everything but the per-forward caches.

        :attr:`last_features` holds the autograd graph of the last training step (a non-leaf
        tensor cannot be deep-copied) and the prompt cache is keyed by the ids of this model's
        parameters, so a copy starts without either, as a freshly built model does.
        """
        state = self.__dict__.copy()
        state["last_features"] = None
        state["_prompt_cache"] = None
        return state

    @property
    def _adaptation_device(self) -> torch.device:
        return self.clip.logit_scale.device

    def get_extra_state(self) -> dict:
        """Vocabularies and class bookkeeping, so ``state_dict`` restores a run exactly."""
        def names(vocabulary):
            return None if vocabulary is None else [list(vocabulary.class_names), list(vocabulary.templates)]

        return {
            "train_vocabulary": names(self._train_vocabulary),
            "eval_vocabulary": names(self._eval_vocabulary),
            "train_classes": self._train_classes,
            "seen_classes": sorted(self._seen_classes),
        }

    def set_extra_state(self, state: dict) -> None:
        def vocabulary(entry):
            return None if entry is None else self._vocabulary(*entry)

        self._train_vocabulary = vocabulary(state["train_vocabulary"])
        self._eval_vocabulary = vocabulary(state["eval_vocabulary"])
        self._train_classes = state["train_classes"]
        self._seen_classes = set(state["seen_classes"])
        self._prompt_cache = None


__all__ = ["CLIPClassifier", "ForwardFeatures", "TRAIN_MASKS", "TrainMask"]
