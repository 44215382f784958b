"""A small dense backbone for grounding: pixels to a stride-4 map through strides 8-32 and back."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

__all__ = ["DenseBackbone"]


def _cbr(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Basic(nn.Module):
    """ResNet's basic block: ``relu(x + bn(conv(relu(bn(conv(x))))))``."""

    def __init__(self, dim: int, dilation: int = 1):
        super().__init__()
        self.a = _cbr(dim, dim, dilation=dilation)
        self.b = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, dilation, dilation=dilation, bias=False),
                               nn.BatchNorm2d(dim))

    def forward(self, x):
        return F.relu(x + self.b(self.a(x)))


class DenseBackbone(nn.Module):
    """CenterNet's recipe at laptop size: two strided 3x3 convolutions take the input
    straight to stride 4 (no full-resolution work beyond one convolution at stride 2),
    then stages at strides 4, 8, 16 and 32 (``widths[1:]`` channels, ``blocks`` basic
    blocks each, dilated alternately in the deep stages), merged back top-down (FPN)
    into one ``out_dim``-channel stride-4 map.

    Where the pixels are costly the channels are few and the blocks one; the capacity
    sits at strides 8-32, where a cell costs 1/4-1/64 of a stride-4 one. That is what
    lets it see thousands of crops a minute on a laptop CPU.

    Parameters
    ----------
    in_channels : int
        Channels of the input (bands, or a stem's features).
    widths : tuple of 5 ints
        Channels at strides 2, 4, 8, 16, 32.
    blocks : tuple of 4 ints
        Basic blocks at strides 4, 8, 16, 32.
    out_dim : int
        Channels of the merged stride-4 map.
    """

    stride = 4

    def __init__(self, in_channels: int, widths: tuple[int, ...] = (16, 32, 64, 128, 128),
                 blocks: tuple[int, ...] = (1, 1, 2, 2), out_dim: int = 64):
        super().__init__()
        if len(widths) != 5 or len(blocks) != 4:
            raise ValueError(f"widths={widths}, blocks={blocks}: give 5 widths (strides 2-32) and 4 block counts "
                             "(strides 4-32)")
        self.stem = nn.Sequential(_cbr(in_channels, widths[0], stride=2), _cbr(widths[0], widths[1], stride=2))
        stages = [nn.Sequential(*(_Basic(widths[1]) for _ in range(blocks[0])))]
        for i in range(1, 4):
            dilated = i >= 2  # strides 16 and 32: alternate dilation 1, 2 for context
            stages.append(nn.Sequential(_cbr(widths[i], widths[i + 1], stride=2),
                                        *(_Basic(widths[i + 1], 1 + (j % 2 if dilated else 0))
                                          for j in range(blocks[i]))))
        self.stages = nn.ModuleList(stages)
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_dim, 1) for c in widths[1:])
        self.smooth = _cbr(out_dim, out_dim)

    def forward(self, x):
        maps = []
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
            maps.append(x)
        top = self.lateral[-1](maps[-1])
        for lateral, m in zip(reversed(self.lateral[:-1]), reversed(maps[:-1])):
            top = lateral(m) + F.interpolate(top, size=m.shape[-2:], mode="nearest")
        return self.smooth(top)
