"""The two evaluation-data contracts that datasets provide and metrics consume.

Any dataset with these attributes works with ``zeroshot_metrics`` / ``retrieval_metrics``: the
real loaders (torchvision sets, image folders, JSON lists, Karpathy splits) and the embedded
world all return them.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

from torch import Tensor


@runtime_checkable
class ZeroShotDataset(Protocol):
    """A labelled image set scored zero-shot with its own class names and prompts.

    ``dataset[i]`` is ``(image, label)``: an image tensor ready for the model (its transform
    already applied) and the class index into ``classes``.

    Attributes:
        classes: the class names, index = label.
        templates: the prompt templates (each with one ``{}``); several are ensembled.
    """

    classes: Sequence[str]
    templates: Sequence[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple[Tensor, int]: ...


@runtime_checkable
class RetrievalDataset(Protocol):
    """Images with several captions each, for image-text retrieval.

    ``dataset[i]`` is image ``i`` as a tensor ready for the model.

    Attributes:
        captions: every caption, flat (lower-cased).
        caption_to_image: for each caption, the index of its image; the positive pairs.
    """

    captions: Sequence[str]
    caption_to_image: Sequence[int]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Tensor: ...


__all__ = ["RetrievalDataset", "ZeroShotDataset"]
