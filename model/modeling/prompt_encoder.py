"""Spatial-aware prompt encoder: a small ViT over rasterised prompt masks."""

from __future__ import annotations

import torch
from torch import nn
from transformers import ViTModel

__all__ = ["SpatialPromptEncoder"]


class SpatialPromptEncoder(nn.Module):
    """Encodes K prompt masks (B, K, S, S) into K prompt tokens (B, K, fusion_dim).

    Each rasterised prompt (disc, rectangle, polygon, scribble) goes through a small,
    randomly initialised ViT with one input channel; its CLS token, projected and
    plus a learned region-index embedding (region 1, region 2, ...), keeps the
    prompt's identity through fusion.
    """

    def __init__(self, config):
        super().__init__()
        self.vit = ViTModel(config.prompt_config, add_pooling_layer=False)
        self.proj = nn.Linear(config.prompt_config.hidden_size, config.fusion_dim)
        self.region_index = nn.Embedding(config.max_regions, config.fusion_dim)
        self.max_regions = config.max_regions

    def forward(self, prompt_masks: torch.Tensor) -> torch.Tensor:
        b, k, s, _ = prompt_masks.shape
        if k > self.max_regions:
            from ..geometry import EgxInputError

            raise EgxInputError(f"{k} prompts given; this model distinguishes at most {self.max_regions}")
        if k == 0:
            return prompt_masks.new_zeros(b, 0, self.proj.out_features)
        x = prompt_masks.reshape(b * k, 1, s, s).to(self.proj.weight.dtype)
        cls = self.vit(pixel_values=x).last_hidden_state[:, 0]
        tokens = self.proj(cls).reshape(b, k, -1)
        return tokens + self.region_index.weight[:k][None]
