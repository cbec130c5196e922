"""Image-text retrieval Recall@K on captioned sets, and its forgetting (PROTOCOL.md 2, 8).

TR@K (image to text): an image is a hit when any of its captions is within its top K captions.
IR@K (text to image): a caption is a hit when its image is within its top K images. Ties count
against the query (see :mod:`avalanche_clip.evaluation.ranking`). A set can be scored as
``n_folds`` consecutive blocks of images, each with the captions of its images, recall averaged
over the blocks: COCO 5K is 5 folds of 1K images.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch import Tensor

from ..._checks import check_name, check_positive_int
from ...benchmarks.datasets.protocols import RetrievalDataset
from ...models.tokenizer_info import tokenize
from ..encoding import encode_images, encode_texts
from ..names import recall_metric
from ..ranking import check_ks, hit_rates, positive_ranks
from .capability import CapabilityMetric


def fold_bounds(num_images: int, n_folds: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each of ``n_folds`` consecutive image blocks.

    When ``n_folds`` does not divide the images, the first ``num_images mod n_folds`` blocks
    take one image more.
    """
    sizes = [len(block) for block in torch.arange(num_images).tensor_split(n_folds)]
    starts = [sum(sizes[:i]) for i in range(n_folds)]
    return [(start, start + size) for start, size in zip(starts, sizes)]


def fold_recall(image_features: Tensor, text_features: Tensor, caption_to_image: Tensor,
                ks: Sequence[int]) -> dict[str, float]:
    """TR@K and IR@K of one block: ``{"Retrieval_TR@k": ..., "Retrieval_IR@k": ...}``.

    Args:
        image_features: ``[I, D]`` image features.
        text_features: ``[T, D]`` caption features.
        caption_to_image: ``[T]`` index in ``0..I-1`` of each caption's image.
        ks: the ``K`` values.
    """
    images = torch.arange(image_features.shape[0], device=caption_to_image.device)
    scores_i2t = image_features @ text_features.T  # [I, T]
    positives_i2t = caption_to_image[None, :] == images[:, None]  # [I, T]
    text_recall = hit_rates(positive_ranks(scores_i2t, positives_i2t), ks)
    image_recall = hit_rates(positive_ranks(scores_i2t.T, positives_i2t.T), ks)  # queries: [T]
    return ({recall_metric("TR", k): value for k, value in text_recall.items()}
            | {recall_metric("IR", k): value for k, value in image_recall.items()})


def retrieval_recall(image_features: Tensor, text_features: Tensor, caption_to_image: Tensor,
                     ks: Sequence[int], n_folds: int = 1) -> dict[str, float]:
    """TR@K and IR@K averaged over ``n_folds`` consecutive image blocks (see :func:`fold_recall`).

    Every block is scored with one matrix product against the captions of its own images.
    """
    per_fold = []
    for start, stop in fold_bounds(image_features.shape[0], n_folds):
        in_fold = (caption_to_image >= start) & (caption_to_image < stop)  # [T]
        per_fold.append(fold_recall(image_features[start:stop], text_features[in_fold],
                                    caption_to_image[in_fold] - start, ks))
    return {name: sum(fold[name] for fold in per_fold) / len(per_fold) for name in per_fold[0]}


def _caption_index(set_name: str, dataset: RetrievalDataset) -> Tensor:
    """The dataset's caption -> image index as a LongTensor, checked against its images."""
    num_images = len(dataset)
    if num_images == 0:
        raise ValueError(f"Retrieval set {set_name!r} has no images.")
    if len(dataset.captions) != len(dataset.caption_to_image):
        raise ValueError(
            f"Retrieval set {set_name!r} has {len(dataset.captions)} captions but "
            f"{len(dataset.caption_to_image)} caption_to_image entries; they must be equal."
        )
    index = torch.as_tensor(list(dataset.caption_to_image), dtype=torch.long)
    outside = index[(index < 0) | (index >= num_images)]
    if len(outside):
        raise ValueError(
            f"Retrieval set {set_name!r}: caption_to_image holds image {int(outside[0])}, outside "
            f"its {num_images} images."
        )
    uncaptioned = (torch.bincount(index, minlength=num_images) == 0).nonzero().flatten()
    if len(uncaptioned):
        raise ValueError(
            f"Retrieval set {set_name!r}: {len(uncaptioned)} images have no caption (first: "
            f"{int(uncaptioned[0])}); image-to-text recall is undefined for them."
        )
    return index


class RetrievalMetric(CapabilityMetric):
    """TR@K and IR@K of the model on one captioned set, with their forgetting.

    Emits ``Retrieval_TR@{k}/eval_phase/<set>``, ``Retrieval_IR@{k}/...`` and their
    ``_Forgetting``. Every image and every caption is encoded once per measurement, in batches;
    each fold is scored with one matrix product ``scores_i2t = images @ captions.T``.

    Args:
        set_name: the set's name in the metric names.
        dataset: a :class:`~avalanche_clip.benchmarks.datasets.protocols.RetrievalDataset`
            (image items, transform applied; ``captions``; ``caption_to_image``).
        ks: the ``K`` of each Recall@K.
        n_folds: number of consecutive image blocks recall is averaged over (5 for COCO 5K;
            1: the whole set).
        batch_size: images, or captions, encoded per forward.
        num_workers: DataLoader workers for the images.
        pin_memory: pinned host memory for the images (faster copies to a GPU).
    """

    def __init__(self, set_name: str, dataset: RetrievalDataset, *, ks: Sequence[int] = (1, 5, 10),
                 n_folds: int = 1, batch_size: int = 256, num_workers: int = 0, pin_memory: bool = False):
        super().__init__(set_name)
        if not isinstance(dataset, RetrievalDataset):
            raise TypeError(
                f"Retrieval set {set_name!r} is a {type(dataset).__name__}, not a RetrievalDataset: "
                "it needs image items, .captions and .caption_to_image."
            )
        self.dataset = dataset
        self.caption_to_image = _caption_index(set_name, dataset)  # [T]
        self.n_folds = check_positive_int("n_folds", n_folds)
        if n_folds > len(dataset):
            raise ValueError(f"n_folds={n_folds} for {set_name!r} is more than its {len(dataset)} images.")
        smallest_fold = len(dataset) // n_folds
        self.ks = check_ks("ks", ks, smallest_fold, f"images in a fold of {set_name!r}")
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.num_workers = num_workers
        self.pin_memory = bool(pin_memory)
        self._tokens: tuple[Any, Tensor] | None = None  # (tokenizer, caption tokens [T, L])

    def _caption_tokens(self, tokenizer: Any) -> Tensor:
        """Caption tokens ``[T, L]``, tokenized once per tokenizer."""
        if self._tokens is None or self._tokens[0] is not tokenizer:
            self._tokens = (tokenizer, tokenize(tokenizer, list(self.dataset.captions)))
        return self._tokens[1]

    def measure(self, model: Any, device: torch.device) -> dict[str, float]:
        image_features = encode_images(
            model, self.dataset, batch_size=self.batch_size, device=device, num_workers=self.num_workers,
            pin_memory=self.pin_memory, description=f"{self.set_name}: images",
        )  # [I, D]
        text_features = encode_texts(
            model, self._caption_tokens(model.tokenizer), batch_size=self.batch_size, device=device,
            description=f"{self.set_name}: captions",
        )  # [T, D]
        return retrieval_recall(image_features, text_features, self.caption_to_image.to(device),
                                self.ks, self.n_folds)


def retrieval_metrics(sets: Mapping[str, RetrievalDataset], *, ks: Sequence[int] = (1, 5, 10),
                      folds: Mapping[str, int] | None = None, batch_size: int = 256,
                      num_workers: int = 0, pin_memory: bool = False) -> list[RetrievalMetric]:
    """One :class:`RetrievalMetric` per named retrieval set, for an ``EvaluationPlugin``.

    Args:
        sets: set name -> retrieval dataset (e.g. ``ExperimentData.retrieval``).
        ks: the ``K`` of each Recall@K (PROTOCOL.md: 1, 5, 10).
        folds: set name -> number of consecutive image folds recall is averaged over, e.g.
            ``{"coco5k": 5}`` (``ExperimentData.retrieval_folds``); sets not listed use the
            whole set.
        batch_size: images, or captions, encoded per forward.
        num_workers: DataLoader workers for the images.
        pin_memory: pinned host memory for the images (faster copies to a GPU).
    """
    folds = dict(folds or {})
    for name in folds:
        check_name("retrieval set in folds", name, sets)
    return [RetrievalMetric(name, dataset, ks=ks, n_folds=folds.get(name, 1), batch_size=batch_size,
                            num_workers=num_workers, pin_memory=pin_memory)
            for name, dataset in sets.items()]


__all__ = ["RetrievalMetric", "fold_bounds", "fold_recall", "retrieval_recall", "retrieval_metrics"]
