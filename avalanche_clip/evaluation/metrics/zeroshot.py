"""Zero-shot classification accuracy on held-out sets, and its forgetting (PROTOCOL.md 1, 8).

Each set is scored with its own class names and prompt templates (several templates are
ensembled as CLIP does: the normalised mean of the normalised template features).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from ..._checks import check_class_names, check_positive_int, check_templates
from ...benchmarks.datasets.protocols import ZeroShotDataset
from ...models.prompt_vocabulary import PromptVocabulary
from ..encoding import encode_class_prompts, encode_labelled_images
from ..names import zeroshot_metric
from ..ranking import check_ks, hit_rates, label_positives, positive_ranks
from .capability import CapabilityMetric


def zeroshot_accuracy(image_features: Tensor, class_features: Tensor, labels: Tensor,
                      ks: Sequence[int]) -> dict[int, float]:
    """Top-``k`` accuracy for each ``k``: a sample is a hit when its class is within its top k.

    Ties count against the sample (see :mod:`avalanche_clip.evaluation.ranking`).

    Args:
        image_features: ``[N, D]`` image features.
        class_features: ``[C, D]`` class (prompt) features.
        labels: ``[N]`` class index of each image.
        ks: the ``k`` values.
    """
    scores = image_features @ class_features.T  # [N, C]
    ranks = positive_ranks(scores, label_positives(labels, class_features.shape[0]))  # [N]
    return hit_rates(ranks, ks)


class ZeroShotMetric(CapabilityMetric):
    """Zero-shot top-k accuracy of the model on one labelled set, with its forgetting.

    Emits ``ZeroShot_Top{k}_Acc/eval_phase/<set>`` and ``ZeroShot_Top{k}_Acc_Forgetting/...``.
    Every image and every prompt is encoded once per measurement, in batches.

    Args:
        set_name: the set's name in the metric names.
        dataset: a :class:`~avalanche_clip.benchmarks.datasets.protocols.ZeroShotDataset`
            (items ``(image, label)``, transform applied; ``classes``; ``templates``).
        top_k: the ``k`` of each top-k accuracy.
        batch_size: images, or prompts, encoded per forward.
        num_workers: DataLoader workers for the images.
        pin_memory: pinned host memory for the images (faster copies to a GPU).
    """

    def __init__(self, set_name: str, dataset: ZeroShotDataset, *, top_k: Sequence[int] = (1, 5),
                 batch_size: int = 256, num_workers: int = 0, pin_memory: bool = False):
        super().__init__(set_name)
        if not isinstance(dataset, ZeroShotDataset):
            raise TypeError(
                f"Zero-shot set {set_name!r} is a {type(dataset).__name__}, not a ZeroShotDataset: "
                "it needs (image, label) items, .classes and .templates."
            )
        if len(dataset) == 0:
            raise ValueError(f"Zero-shot set {set_name!r} is empty.")
        self.dataset = dataset
        self.classes = check_class_names(dataset.classes)
        self.templates = check_templates(dataset.templates)
        self.top_k = check_ks("top_k", top_k, len(self.classes), f"classes of {set_name!r}")
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_workers = num_workers
        self.pin_memory = bool(pin_memory)
        self._vocabulary: tuple[Any, Tensor] | None = None  # (tokenizer, tokens [C, T, L])

    def _prompt_tokens(self, tokenizer: Any) -> Tensor:
        """Prompt tokens ``[C, T, L]``, tokenized once per tokenizer."""
        if self._vocabulary is None or self._vocabulary[0] is not tokenizer:
            tokens = PromptVocabulary.build(self.classes, self.templates, tokenizer).tokens
            self._vocabulary = (tokenizer, tokens)
        return self._vocabulary[1]

    def measure(self, model: Any, device: torch.device) -> dict[str, float]:
        image_features, labels = encode_labelled_images(
            model, self.dataset, batch_size=self.batch_size, device=device, num_workers=self.num_workers,
            pin_memory=self.pin_memory, description=f"{self.set_name}: images",
        )  # [N, D], [N]
        class_features = encode_class_prompts(
            model, self._prompt_tokens(model.tokenizer), batch_size=self.batch_size, device=device,
            description=f"{self.set_name}: class prompts",
        )  # [C, D]
        accuracy = zeroshot_accuracy(image_features, class_features, labels, self.top_k)
        return {zeroshot_metric(k): value for k, value in accuracy.items()}


def zeroshot_metrics(sets: Mapping[str, ZeroShotDataset], *, top_k: Sequence[int] = (1, 5),
                     batch_size: int = 256, num_workers: int = 0, pin_memory: bool = False) -> list[ZeroShotMetric]:
    """One :class:`ZeroShotMetric` per named zero-shot set, for an ``EvaluationPlugin``.

    Args:
        sets: set name -> zero-shot dataset (e.g. ``ExperimentData.zeroshot``).
        top_k: the ``k`` of each top-k accuracy (PROTOCOL.md reports top-1).
        batch_size: images, or prompts, encoded per forward.
        num_workers: DataLoader workers for the images.
        pin_memory: pinned host memory for the images (faster copies to a GPU).
    """
    return [ZeroShotMetric(name, dataset, top_k=top_k, batch_size=batch_size, num_workers=num_workers,
                            pin_memory=pin_memory)
            for name, dataset in sets.items()]


__all__ = ["ZeroShotMetric", "zeroshot_accuracy", "zeroshot_metrics"]
