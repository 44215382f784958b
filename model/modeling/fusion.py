"""Hybrid fusion of image and prompt tokens on the stride-16 grid."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FusionSkip", "HybridFusionBlock", "HybridFusion"]


def _mlp(dim: int, ratio: float) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, int(dim * ratio)), nn.GELU(),
                         nn.Linear(int(dim * ratio), dim))


class HybridFusionBlock(nn.Module):
    """Self-attention over image tokens, FFN over prompt tokens, cross-attention from
    image to prompt tokens, self-attention again, then an FFN (all pre-norm, residual)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.self_attn1 = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.prompt_ffn = _mlp(dim, mlp_ratio)
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(dim)
        self.self_attn2 = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.image_ffn = _mlp(dim, mlp_ratio)

    def forward(self, image: torch.Tensor, prompts: torch.Tensor,
                prompt_padding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norm1(image)
        image = image + self.self_attn1(h, h, h, need_weights=False)[0]
        prompts = prompts + self.prompt_ffn(prompts)
        kv = self.norm_kv(prompts)
        image = image + self.cross_attn(self.norm_q(image), kv, kv, key_padding_mask=prompt_padding,
                                        need_weights=False)[0]
        h = self.norm2(image)
        image = image + self.self_attn2(h, h, h, need_weights=False)[0]
        image = image + self.image_ffn(image)
        return image, prompts


class FusionSkip(nn.Linear):
    """The fusion's skip from its input grid; zero-initialised (``EgxPreTrainedModel._init_weights``)."""

    def __init__(self, dim: int):
        super().__init__(dim, dim)


class HybridFusion(nn.Module):
    """Fuses the image grid (B, D, g, g) with prompt tokens (B, K, D).

    A learned "no prompt" token is always present so scene-level questions (K = 0)
    take the same path. Returns the fused grid (B, D, g, g) and the prompt tokens.
    With ``config.fusion_skip`` a linear map of the input grid is added after the final
    norm; it starts at zero, so a model warm-started from one without it is unchanged.
    """

    def __init__(self, config):
        super().__init__()
        dim, g = config.fusion_dim, config.image_size // 16
        self.pos = nn.Parameter(torch.zeros(1, g * g, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.null_prompt = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(HybridFusionBlock(dim, config.fusion_heads, config.fusion_mlp_ratio)
                                    for _ in range(config.fusion_layers))
        self.norm = nn.LayerNorm(dim)
        self.skip = FusionSkip(dim) if config.fusion_skip else None

    def forward(self, grid: torch.Tensor, prompts: torch.Tensor,
                prompt_valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, d, gh, gw = grid.shape
        image = grid.flatten(2).transpose(1, 2) + self.pos.to(grid.dtype)
        prompts = torch.cat([self.null_prompt.to(grid.dtype).expand(b, -1, -1), prompts], dim=1)
        padding = torch.cat([prompt_valid.new_zeros(b, 1), ~prompt_valid], dim=1)
        for block in self.blocks:
            image, prompts = block(image, prompts, padding)
        image = self.norm(image)
        if self.skip is not None:
            image = image + self.skip(grid.flatten(2).transpose(1, 2))
        return image.transpose(1, 2).reshape(b, d, gh, gw), prompts[:, 1:]
