"""Projectors into the LLM: pooled image tokens and one embedding per region."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ImageProjector", "RegionProjector"]


def _output_norm(config, llm_hidden: int) -> nn.Module:
    # Without it the projected tokens grew to ~150x the norm of the text embeddings, mostly
    # one shared direction; under the LLM's RMSNorm the differences between images and
    # regions then shrank to a few percent and the LLM learned to answer from the text alone.
    return nn.LayerNorm(llm_hidden) if config.projector_norm else nn.Identity()


class ImageProjector(nn.Module):
    """Pools the fused grid to ``llm_image_grid``^2 tokens and projects them to the LLM width."""

    def __init__(self, config, llm_hidden: int):
        super().__init__()
        self.grid = config.llm_image_grid
        self.mlp = nn.Sequential(nn.Linear(config.fusion_dim, llm_hidden), nn.GELU(),
                                 nn.Linear(llm_hidden, llm_hidden))
        self.norm = _output_norm(config, llm_hidden)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(fused, self.grid)
        return self.norm(self.mlp(pooled.flatten(2).transpose(1, 2)))


class RegionProjector(nn.Module):
    """One LLM embedding per prompt: masked average of fused features inside the prompt
    (dilated to the touched grid cells, so a 3-pixel prompt still pools something)
    concatenated with the prompt token, through an MLP."""

    def __init__(self, config, llm_hidden: int):
        super().__init__()
        d = config.fusion_dim
        self.mlp = nn.Sequential(nn.Linear(2 * d, llm_hidden), nn.GELU(), nn.Linear(llm_hidden, llm_hidden))
        self.norm = _output_norm(config, llm_hidden)

    def forward(self, fused: torch.Tensor, prompt_masks: torch.Tensor, prompt_tokens: torch.Tensor) -> torch.Tensor:
        b, k = prompt_masks.shape[:2]
        if k == 0:
            return fused.new_zeros(b, 0, self.mlp[-1].out_features)
        g = fused.shape[-2:]
        m = prompt_masks.to(fused.dtype)
        w = 0.5 * (F.adaptive_avg_pool2d(m, g) + F.adaptive_max_pool2d(m, g))  # (B, K, g, g)
        w = w.flatten(2)
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-6)
        pooled = torch.einsum("bkn,bdn->bkd", w, fused.flatten(2))
        return self.norm(self.mlp(torch.cat([pooled, prompt_tokens], dim=-1)))
