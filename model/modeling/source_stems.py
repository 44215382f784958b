"""Per-source input stems: full-resolution convolutions plus a learned source embedding."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SourceStems", "SOURCE_CHANNELS"]

# Channels each source's stem reads from the 3-channel canvas the processor builds:
# optical R, G, B; SAR VV, VH (VV copy for single-pol), dual-pol flag plane; infrared 1 band.
SOURCE_CHANNELS = (3, 3, 1)


class SourceStems(nn.Module):
    """Maps each source to ``stem_width`` channels at stride 1 (two 3x3 convolutions).

    The output is the backbone input and the high-resolution path of the mask heads.
    Invalid pixels (nodata, padding) are zeroed after the source embedding is added.
    """

    def __init__(self, stem_width: int, num_sources: int = 3):
        super().__init__()
        self.stems = nn.ModuleList(
            nn.Sequential(nn.Conv2d(SOURCE_CHANNELS[i] + 1, stem_width, 3, padding=1), nn.GELU(),
                          nn.Conv2d(stem_width, stem_width, 3, padding=1))
            for i in range(num_sources)
        )
        self.source_embedding = nn.Embedding(num_sources, stem_width)
        self.stem_width = stem_width

    def forward(self, pixel_values: torch.Tensor, source_ids: torch.Tensor,
                valid_mask: torch.Tensor) -> torch.Tensor:
        b, _, h, w = pixel_values.shape
        out = pixel_values.new_zeros(b, self.stem_width, h, w)
        for sid in torch.unique(source_ids).tolist():
            rows = (source_ids == sid).nonzero(as_tuple=True)[0]
            x = torch.cat([pixel_values[rows, : SOURCE_CHANNELS[sid]], valid_mask[rows]], dim=1)
            out[rows] = self.stems[sid](x).to(out.dtype)
        out = out + self.source_embedding(source_ids)[:, :, None, None]
        return out * valid_mask
