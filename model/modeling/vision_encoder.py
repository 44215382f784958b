"""Mixed visual encoder: source stems -> ConvNeXt (+ optional ViT) -> multi-scale features."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, ConvNextBackbone

from .outputs import EgxImageFeatures
from .source_stems import SourceStems

__all__ = ["MixedVisionEncoder"]


class MixedVisionEncoder(nn.Module):
    """Stems, the shared CNN backbone and (optionally) a ViT, brought to one stride-16 grid.

    The ConvNeXt's stages 1-3 give stride 4/8/16 features; a ViT's patch grid (if
    configured) is resampled to the stride-16 grid and concatenated before a 1x1
    projection to ``fusion_dim`` image tokens.
    """

    def __init__(self, config):
        super().__init__()
        vcfg = copy.deepcopy(config.vision_config)
        vcfg.set_output_features_output_indices(out_indices=[1, 2, 3], out_features=None)
        self.stems = SourceStems(config.stem_width, config.num_sources)
        in_ch = vcfg.num_channels
        self.to_backbone = (nn.Identity() if in_ch == config.stem_width
                            else nn.Conv2d(config.stem_width, in_ch, 1))
        self.backbone = ConvNextBackbone(vcfg)
        self.vit = AutoModel.from_config(config.vit_config) if config.vit_config is not None else None
        grid_in = vcfg.hidden_sizes[2]
        if self.vit is not None:
            grid_in += config.vit_config.hidden_size
        self.to_grid = nn.Sequential(nn.Conv2d(grid_in, config.fusion_dim, 1), nn.GroupNorm(1, config.fusion_dim))

    @property
    def channels(self) -> tuple[int, int, int]:
        return tuple(self.backbone.config.hidden_sizes[:3])

    def _vit_grid(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        out = self.vit(pixel_values=x, **({"interpolate_pos_encoding": True}
                                          if "interpolate_pos_encoding" in self.vit.forward.__code__.co_varnames
                                          else {}))
        tokens = out.last_hidden_state
        ph, pw = x.shape[-2] // self.vit.config.patch_size, x.shape[-1] // self.vit.config.patch_size
        tokens = tokens[:, -ph * pw:]  # drop CLS / register tokens
        grid = tokens.transpose(1, 2).reshape(x.shape[0], -1, ph, pw)
        return F.interpolate(grid, size=size, mode="bilinear", align_corners=False)

    def forward(self, pixel_values, source_ids, valid_mask) -> EgxImageFeatures:
        stem = self.stems(pixel_values, source_ids, valid_mask)
        x = self.to_backbone(stem)
        s4, s8, s16 = self.backbone(pixel_values=x).feature_maps
        grid_in = s16
        if self.vit is not None:
            grid_in = torch.cat([s16, self._vit_grid(x, s16.shape[-2:]).to(s16.dtype)], dim=1)
        grid = self.to_grid(grid_in)
        return EgxImageFeatures(stem=stem, s4=s4, s8=s8, s16=s16, grid=grid, valid_mask=valid_mask,
                                source_ids=source_ids)
