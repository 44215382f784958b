"""Projectors into the LLM: pooled image tokens and one embedding per region."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DetailProjection", "ImageProjector", "RegionCrop", "RegionDetail", "RegionProjector", "ViewScale",
           "prompt_boxes", "roi_align", "roi_layout"]


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


def _masked_pool(features: torch.Tensor, prompt_masks: torch.Tensor) -> torch.Tensor:
    """(B, K, C): average of ``features`` (B, C, h, w) inside each prompt, the prompt
    dilated to the cells it touches so a 3-pixel prompt still pools something."""
    g = features.shape[-2:]
    m = prompt_masks.to(features.dtype)
    w = 0.5 * (F.adaptive_avg_pool2d(m, g) + F.adaptive_max_pool2d(m, g))  # (B, K, h, w)
    w = w.flatten(2)
    w = w / w.sum(-1, keepdim=True).clamp_min(1e-6)
    return torch.einsum("bkn,bdn->bkd", w, features.flatten(2))


class DetailProjection(nn.Linear):
    """``RegionDetail``'s output map; zero-initialised (``EgxPreTrainedModel._init_weights``),
    so a model warm-started without it begins unchanged."""


class RegionDetail(nn.Module):
    """Fine detail for region tokens: the prompt's pooled stride-4 and stride-8 backbone
    features, normalised and mapped to the fusion width."""

    def __init__(self, channels: tuple[int, int], dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(sum(channels))
        self.proj = DetailProjection(sum(channels), dim)

    def forward(self, s4: torch.Tensor, s8: torch.Tensor, prompt_masks: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([_masked_pool(s4, prompt_masks), _masked_pool(s8, prompt_masks)], dim=-1)
        return self.proj(self.norm(pooled))


def prompt_boxes(prompt_masks: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """(B, K, 4) x0, y0, x1, y1 canvas pixels (pixel edges) of the bounding box of each prompt
    mask's pixels above ``threshold`` (the whole canvas for an empty prompt)."""
    on = prompt_masks > threshold
    rows, cols = on.any(-1), on.any(-2)  # (B, K, S)

    def span(hit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = hit.shape[-1]
        first = hit.float().argmax(-1)
        last = n - hit.flip(-1).float().argmax(-1)
        empty = ~hit.any(-1)
        return first.masked_fill(empty, 0), last.masked_fill(empty, n)

    x0, x1 = span(cols)
    y0, y1 = span(rows)
    return torch.stack([x0, y0, x1, y1], -1).float()


def roi_align(features: torch.Tensor, boxes: torch.Tensor, side: int, grid: int, context: float = 0.5,
              min_side: float = 8.0) -> torch.Tensor:
    """(B, K, C, grid, grid): ``features`` (B, C, h, w) averaged over a ``grid`` x ``grid``
    layout of each box (B, K, 4, canvas pixels of a ``side``-px canvas), the box grown by
    ``context`` of its size on every side and to at least ``min_side``; 2 x 2 bilinear samples a cell."""
    b, k = boxes.shape[:2]
    c = features.shape[1]
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    size = ((boxes[..., 2:] - boxes[..., :2]) * (1 + 2 * context)).clamp_min(min_side)
    steps = (torch.arange(2 * grid, device=boxes.device, dtype=boxes.dtype) + 0.5) / (2 * grid) - 0.5
    xs = (centre[..., 0, None] + steps * size[..., 0, None]) / side * 2 - 1  # (B, K, 2g)
    ys = (centre[..., 1, None] + steps * size[..., 1, None]) / side * 2 - 1
    g = torch.stack(torch.broadcast_tensors(xs[..., None, :], ys[..., :, None]), -1)  # (B, K, 2g, 2g, 2)
    # the K prompts' sampling grids stacked along the output height: one call, no copy per prompt
    sampled = F.grid_sample(features, g.reshape(b, k * 2 * grid, 2 * grid, 2).to(features.dtype),
                            align_corners=False)  # (B, C, K * 2g, 2g)
    return F.avg_pool2d(sampled, 2).reshape(b, c, k, grid, grid).transpose(1, 2)


def roi_layout(maps: tuple[torch.Tensor, ...], prompt_masks: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, K, sum(C) * grid^2): each of ``maps`` RoI-aligned over each prompt's box (one box
    per prompt for all maps), flattened and concatenated."""
    boxes = prompt_boxes(prompt_masks)
    side = prompt_masks.shape[-1]
    return torch.cat([roi_align(m, boxes, side, grid).flatten(2) for m in maps], -1)


class RegionCrop(nn.Module):
    """The object's layout for region tokens: stride-4, stride-8 and stem features RoI-aligned
    over the prompt's box (with context) on a ``grid`` x ``grid`` layout, normalised and mapped
    to the fusion width (zero-initialised, so a warm start begins unchanged)."""

    def __init__(self, channels: tuple[int, ...], grid: int, dim: int):
        super().__init__()
        self.grid = grid
        n = sum(channels) * grid * grid
        self.norm = nn.LayerNorm(n)
        self.proj = DetailProjection(n, dim)

    def forward(self, maps: tuple[torch.Tensor, ...], prompt_masks: torch.Tensor) -> torch.Tensor:
        return self.proj(self.norm(roi_layout(maps, prompt_masks, self.grid)))


class ViewScale(nn.Module):
    """The view's zoom for region tokens: ``l = log2`` of raster pixels per canvas pixel
    (clamped to 1/16 ... 64) as fixed features (``l / 4`` and sines and cosines of
    ``pi k l / 8``, k = 1 ... ``bands``, periods of 16 down to 2 octaves) through a
    zero-initialised linear map. The features are fixed and of order one so the map
    learns from the first step (a learned first layer would start near zero, as warm
    starts initialise it small, and hold the map's gradient back)."""

    def __init__(self, dim: int, bands: int = 8):
        super().__init__()
        self.bands = bands  # frequencies made in forward: from_pretrained leaves a non-persistent buffer unset
        self.proj = DetailProjection(2 * bands + 1, dim)

    def forward(self, view_scale: torch.Tensor) -> torch.Tensor:
        """(B, dim) from ``view_scale`` (B,)."""
        x = torch.log2(view_scale.float().clamp(1 / 16, 64))[:, None]
        angles = x * torch.arange(1, self.bands + 1, device=x.device, dtype=x.dtype) * (torch.pi / 8)
        feats = torch.cat([x / 4, angles.sin(), angles.cos()], dim=-1)
        return self.proj(feats.to(self.proj.weight.dtype))


class RegionProjector(nn.Module):
    """One LLM embedding per prompt: masked average of fused features inside the prompt
    (plus, with ``config.region_detail``, of the stride-4/8 backbone features, and with
    ``config.region_roi``, their RoI-aligned layout over the prompt's box) concatenated
    with the prompt token, through an MLP. With ``config.region_scale`` the view's zoom is
    added to the pooled features (:class:`ViewScale`)."""

    def __init__(self, config, llm_hidden: int, detail_channels: tuple[int, int]):
        super().__init__()
        d = config.fusion_dim
        self.mlp = nn.Sequential(nn.Linear(2 * d, llm_hidden), nn.GELU(), nn.Linear(llm_hidden, llm_hidden))
        self.norm = _output_norm(config, llm_hidden)
        self.detail = RegionDetail(detail_channels, d) if config.region_detail else None
        self.crop = (RegionCrop((*detail_channels, config.stem_width), config.region_roi, d)
                     if config.region_roi else None)
        self.scale = ViewScale(d) if config.region_scale else None

    def forward(self, fused: torch.Tensor, prompt_masks: torch.Tensor, prompt_tokens: torch.Tensor,
                s4: torch.Tensor | None = None, s8: torch.Tensor | None = None,
                stem: torch.Tensor | None = None, view_scale: torch.Tensor | None = None) -> torch.Tensor:
        b, k = prompt_masks.shape[:2]
        if k == 0:
            return fused.new_zeros(b, 0, self.mlp[-1].out_features)
        pooled = _masked_pool(fused, prompt_masks)
        if self.detail is not None:
            pooled = pooled + self.detail(s4, s8, prompt_masks).to(pooled.dtype)
        if self.crop is not None:
            pooled = pooled + self.crop((s4, s8, stem), prompt_masks).to(pooled.dtype)
        if self.scale is not None:
            if view_scale is None:
                view_scale = pooled.new_ones(b)
            pooled = pooled + self.scale(view_scale.to(pooled.device))[:, None].to(pooled.dtype)
        return self.norm(self.mlp(torch.cat([pooled, prompt_tokens], dim=-1)))
