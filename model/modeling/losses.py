"""Loss functions of the pixel heads."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["dice_loss", "mask_losses", "focal_heatmap_loss", "gaussian_heatmap", "centre_losses"]


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Soft Dice loss averaged over masks; ``logits`` and ``target`` are (N, H, W)."""
    p = logits.sigmoid().flatten(1)
    t = target.flatten(1)
    inter = (p * t).sum(-1)
    return (1 - (2 * inter + eps) / (p.sum(-1) + t.sum(-1) + eps)).mean()


def mask_losses(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(BCE, Dice) of mask logits against soft targets in [0, 1]."""
    logits = logits.float()
    target = target.float()
    return F.binary_cross_entropy_with_logits(logits, target), dice_loss(logits, target)


def gaussian_heatmap(boxes: torch.Tensor, size: int, stride: int, min_radius: float) -> tuple:
    """CenterNet targets for canvas boxes (N, 4) on a ``size x size`` stride grid.

    Returns (heatmap (size, size), centre cells (N, 2) long, sizes (N, 2), offsets (N, 2)).
    """
    dev = boxes.device
    heat = torch.zeros(size, size, device=dev)
    if len(boxes) == 0:
        z = torch.zeros(0, 2, device=dev)
        return heat, z.long(), z, z
    c = (boxes[:, :2] + boxes[:, 2:]) / 2 / stride
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp_min(1e-3) / stride
    cell = c.floor().clamp(0, size - 1)
    offset = c - cell
    ys, xs = torch.meshgrid(torch.arange(size, device=dev), torch.arange(size, device=dev), indexing="ij")
    for (cx, cy), (w, h) in zip(cell.tolist(), wh.tolist()):
        sx = max(w / 6, min_radius / 3)
        sy = max(h / 6, min_radius / 3)
        g = torch.exp(-((xs - cx) ** 2) / (2 * sx ** 2) - ((ys - cy) ** 2) / (2 * sy ** 2))
        heat = torch.maximum(heat, g)
    cell = cell.long()
    heat[cell[:, 1], cell[:, 0]] = 1.0
    return heat, cell, wh, offset


def focal_heatmap_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0,
                       beta: float = 4.0) -> torch.Tensor:
    """Penalty-reduced focal loss (CenterNet) normalised by the number of centres."""
    logits = logits.float()
    p = logits.sigmoid().clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    neg = 1 - pos
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - target) ** beta * neg
    n = pos.sum().clamp_min(1.0)
    return (pos_loss.sum() + neg_loss.sum()) / n


def centre_losses(heat_logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, boxes, stride: int,
                  min_radius: float, alpha: float = 2.0, beta: float = 4.0,
                  use: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """CenterNet's three terms for N maps: focal heatmap loss, and size and offset L1 per centre.

    ``heat_logits`` (N, h, w), ``size`` and ``offset`` (N, 2, h, w); ``boxes`` holds N (n_i, 4)
    canvas boxes; ``use`` (N,) bool picks the rows that count (default: all).
    """
    h = heat_logits.shape[-1]
    if use is None:
        use = torch.ones(len(boxes), dtype=torch.bool, device=heat_logits.device)
    targets, l_size, l_off, n_centres = [], heat_logits.new_zeros(()).float(), heat_logits.new_zeros(()).float(), 0
    for i, b in enumerate(boxes):
        heat, cell, wh, off = gaussian_heatmap(b.float(), h, stride, min_radius)
        targets.append(heat)
        if len(cell) and use[i]:
            l_size = l_size + (size[i, :, cell[:, 1], cell[:, 0]].float().T - wh).abs().sum()
            l_off = l_off + (offset[i, :, cell[:, 1], cell[:, 0]].float().T - off).abs().sum()
            n_centres += len(cell)
    target = torch.stack(targets)
    focal = focal_heatmap_loss(heat_logits[use], target[use], alpha, beta)
    return focal, l_size / max(n_centres, 1), l_off / max(n_centres, 1)
