"""Encoding an evaluation set with the model under evaluation: batched, once, no grad, eval mode.

Texts are encoded in order of length, so each batch runs the (trimmed) text transformer on few
padding positions; the features come back in the input order. Images come through a DataLoader
whose workers and pinned memory are configurable.

Metric callbacks such as ``before_training`` and ``after_training_exp`` run with gradients on
and the model in train mode (Avalanche notes, section 3.4). :func:`evaluation_mode` switches
both off for the duration of a measurement and restores every module's own mode afterwards,
as Avalanche's ``BaseTemplate._save_train_state`` does around ``eval``.

Under torch.distributed every process encodes its shard of a set (see
:func:`~avalanche_clip.distributed.shard_sampler`) and the features are gathered, so every
process holds the features of the whole set, in order, and the metrics are those of the whole set.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager, nullcontext
from typing import Any, ContextManager, Iterable, Iterator, TypeVar

import torch
from avalanche.distributed import DistributedHelper
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..distributed import gather_shards, shard_indices, shard_sampler

_Batch = TypeVar("_Batch")
_ENCODER_API = ("encode_image", "encode_text", "encode_prompts", "text_lengths", "tokenizer")


def check_encoder(model: Any) -> Any:
    """Return ``model`` if it has the encoders the CLIP metrics call (a ``CLIPClassifier``)."""
    missing = [name for name in _ENCODER_API if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"The CLIP metrics need a model with {', '.join(_ENCODER_API)} (an "
            f"avalanche_clip.models.CLIPClassifier); {type(model).__name__} lacks {', '.join(missing)}."
        )
    return model


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Run the block with ``model`` in eval mode and gradients off; restore both after.

    Each submodule gets back its own ``training`` flag (a frozen tower kept in eval mode stays
    so) and the grad mode is restored by ``torch.no_grad``'s exit.
    """
    modes = {name: module.training for name, module in model.named_modules()}
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for name, module in model.named_modules():
            module.training = modes.get(name, module.training)


def strategy_autocast(strategy: Any) -> ContextManager:
    """The strategy's own autocast context (``CLIPStrategy.autocast``), else none."""
    autocast = getattr(strategy, "autocast", None)
    return autocast() if callable(autocast) else nullcontext()


def encoding_progress(batches: Iterable[_Batch], description: str | None) -> Iterable[_Batch]:
    """``batches`` behind a transient bar on stderr named ``description`` (main process only); None: no bar.

    The bar disappears when the encoding ends; under a run's bar it is drawn beneath it.
    """
    if description is None or not DistributedHelper.is_main_process:
        return batches
    return tqdm(batches, desc=description, leave=False, unit="batch", file=sys.stderr, dynamic_ncols=True)


def _loader(dataset: Dataset, batch_size: int, num_workers: int, pin_memory: bool) -> DataLoader:
    """This process's shard of ``dataset`` in order (the whole dataset in one process)."""
    return DataLoader(dataset, batch_size=batch_size, sampler=shard_sampler(dataset), num_workers=num_workers,
                      pin_memory=pin_memory)


def encode_images(model: Any, dataset: Dataset, *, batch_size: int, device: torch.device,
                  num_workers: int = 0, pin_memory: bool = False, description: str | None = None) -> Tensor:
    """Normalised features ``[N, D]`` (float32) of a dataset whose items are image tensors.

    ``description`` names the progress bar of the encoding (see :func:`encoding_progress`); None: no bar.
    """
    loader = encoding_progress(_loader(dataset, batch_size, num_workers, pin_memory), description)
    features = [model.encode_image(images.to(device, non_blocking=True)).float() for images in loader]
    return gather_shards(torch.cat(features), len(dataset))


def encode_labelled_images(model: Any, dataset: Dataset, *, batch_size: int, device: torch.device,
                           num_workers: int = 0, pin_memory: bool = False,
                           description: str | None = None) -> tuple[Tensor, Tensor]:
    """Normalised features ``[N, D]`` (float32) and labels ``[N]`` of ``(image, label)`` items.

    ``description`` names the progress bar of the encoding (see :func:`encoding_progress`); None: no bar.
    """
    features, labels = [], []
    for images, targets in encoding_progress(_loader(dataset, batch_size, num_workers, pin_memory), description):
        features.append(model.encode_image(images.to(device, non_blocking=True)).float())
        labels.append(torch.as_tensor(targets))
    labels = torch.cat(labels).to(device)  # [N / world]
    return gather_shards(torch.cat(features), len(dataset)), gather_shards(labels, len(dataset))


def encode_texts(model: Any, tokens: Tensor, *, batch_size: int, device: torch.device,
                 description: str | None = None) -> Tensor:
    """Normalised features ``[N, D]`` (float32) of token rows ``[N, L]``, in batches, in input order.

    Each process encodes its shard shortest first, so each batch is trimmed to about its own
    texts' length. ``description`` names the progress bar (None: none).
    """
    shard = tokens[shard_indices(len(tokens))]  # [N / world, L]
    order = torch.argsort(model.text_lengths(shard), stable=True)  # [N / world]
    chunks = encoding_progress(shard[order].split(batch_size), description)
    features = torch.cat([model.encode_text(chunk.to(device)).float() for chunk in chunks])  # [N / world, D], sorted
    return gather_shards(features[torch.argsort(order).to(features.device)], len(tokens))


def encode_class_prompts(model: Any, tokens: Tensor, *, batch_size: int, device: torch.device,
                         description: str | None = None) -> Tensor:
    """Class features ``[C, D]`` from prompt tokens ``[C, T, L]``: template-ensembled, normalised.

    About ``batch_size`` prompts per call: ``batch_size // T`` classes (at least one) at a time.
    ``description`` names the progress bar (None: none).
    """
    classes_per_batch = max(1, batch_size // tokens.shape[1])
    shard = tokens[shard_indices(len(tokens))]  # [C / world, T, L]
    features = torch.cat([model.encode_prompts(chunk.to(device)).float()
                          for chunk in encoding_progress(shard.split(classes_per_batch), description)])
    return gather_shards(features, len(tokens))


__all__ = [
    "check_encoder",
    "encode_class_prompts",
    "encode_images",
    "encode_labelled_images",
    "encode_texts",
    "evaluation_mode",
    "encoding_progress",
    "strategy_autocast",
]
