"""A convolutional patch stem for the world's ViT: early convolutions help a tiny ViT see shapes.

OpenCLIP's ViT embeds each 8 x 8 patch with one linear map (``visual.conv1``). On 64 px scenes a
tiny ViT pretrained that way learns colours at once but stays at chance on shapes for thousands of
steps: a linear patch embedding is not shift-invariant, and objects fall anywhere in their
patches. Replacing it with a few stride-2 3 x 3 convolutions (Xiao et al., "Early Convolutions
Help Transformers See Better", 2021) gives the same ``[B, width, 8, 8]`` token grid from
translation-equivariant features; the transformer, its blocks and everything downstream stay
OpenCLIP's own.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn


class ConvStem(nn.Sequential):
    """Stride-2 3 x 3 convolutions with GELU between them: ``[B, 3, H, W] -> [B, width, H/s, W/s]``.

    The stride ``s`` is ``2 ** (len(channels) + 1)``: one convolution per entry of ``channels``,
    then a last one to ``width``.

    Args:
        channels: output channels of the hidden convolutions, e.g. ``(32, 64)`` (stride 8).
        width: output channels (the ViT's width).
    """

    def __init__(self, channels: Sequence[int], width: int):
        layers: list[nn.Module] = []
        previous = 3
        for out in channels:
            layers += [nn.Conv2d(previous, out, 3, stride=2, padding=1), nn.GELU()]
            previous = out
        layers.append(nn.Conv2d(previous, width, 3, stride=2, padding=1))
        super().__init__(*layers)
        self.stride = 2 ** (len(channels) + 1)


def install_conv_stem(visual: nn.Module, channels: Sequence[int]) -> None:
    """Replace an OpenCLIP ViT's patch embedding ``visual.conv1`` with a :class:`ConvStem`.

    Raises:
        ValueError: when the stem's stride differs from the ViT's patch size.
    """
    patch = visual.conv1.kernel_size[0]
    stem = ConvStem(channels, visual.conv1.out_channels)
    if stem.stride != patch:
        raise ValueError(
            f"conv_stem {list(channels)} has stride {stem.stride} but the ViT's patch_size is {patch}: "
            f"give {patch.bit_length() - 2} hidden channel counts."
        )
    visual.conv1 = stem


__all__ = ["ConvStem", "install_conv_stem"]
