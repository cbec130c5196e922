"""One domain of a multi-domain (MTIL) sequence: the contract between its data and the protocol.

A real dataset (``benchmarks.datasets``) and a world domain (``benchmarks.world``) both arrive at
the MTIL generator as an :class:`MTILTask`, so the protocol never knows where the images came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch.utils.data import Dataset


@dataclass(frozen=True)
class MTILTask:
    """A task of MTIL: a labelled domain with its own vocabulary and prompts.

    Attributes:
        name: the dataset's name in reports and metric names (e.g. ``"Aircraft"``).
        train: the training split; samples are ``(image, label)`` with labels in
            ``range(len(class_names))``; images untransformed (PIL) or already tensors.
        test: the evaluation split, same sample form.
        class_names: one name per label, as written into the prompts.
        templates: this dataset's prompt templates, each with one ``{}``.
    """

    name: str
    train: Dataset
    test: Dataset
    class_names: tuple[str, ...]
    templates: tuple[str, ...]


__all__ = ["MTILTask"]
