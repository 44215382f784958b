"""Query-conditioned CenterNet head for [DET]: boxes from heatmap peaks, a full-resolution mask."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .dense_backbone import DenseBackbone

__all__ = ["DetectionHead", "DetBranch", "ZeroConv2d"]


def _conv(cin: int, cout: int, k: int = 3, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation),
                         nn.GroupNorm(1, cout), nn.GELU())


class ZeroConv2d(nn.Conv2d):
    """A convolution zero-initialised (``EgxPreTrainedModel._init_weights``), so a model
    warm-started without the block it closes begins unchanged."""


class _Residual(nn.Module):
    """``x + zero_conv(conv(x))``: a 3x3 block that starts as the identity."""

    def __init__(self, dim: int, dilation: int = 1):
        super().__init__()
        self.conv = _conv(dim, dim, dilation=dilation)
        self.out = ZeroConv2d(dim, dim, 3, padding=dilation, dilation=dilation)

    def forward(self, x):
        return x + self.out(self.conv(x))


class DetBranch(nn.Module):
    """The grounding head's own features: the full-resolution stem taken to stride 4
    through two strided 3x3 stages (``width`` channels at stride 2, ``2 * width`` at
    stride 4), each with a residual block, mapped to the head's width by a
    zero-initialised 1x1 convolution. The shared backbone reaches stride 4 in one
    linear 4x4 patch embedding; small objects (infrared targets, thermal people) are a
    cell or two there.

    ``levels`` > 2 goes on to stride 8, 16, ... (``4 * width`` channels, two residual
    blocks each, dilations 1 and 2) and merges the deeper stages back into the stride-4
    map top-down (FPN), so the branch sees an object's surroundings as a CenterNet
    backbone does, not only its pixels. ``levels=2`` is the shallow branch as it was.
    """

    def __init__(self, stem_width: int, width: int, out_dim: int, levels: int = 2):
        super().__init__()
        if levels < 2:
            raise ValueError(f"det_branch_levels={levels}: the branch needs at least 2 levels (strides 2 and 4)")
        self.stages = nn.Sequential(_conv(stem_width, width, stride=2), _Residual(width),
                                    _conv(width, 2 * width, stride=2), _Residual(2 * width))
        deep, cin = [], 2 * width
        for _ in range(levels - 2):
            deep.append(nn.Sequential(_conv(cin, 4 * width, stride=2), _Residual(4 * width),
                                      _Residual(4 * width, dilation=2)))
            cin = 4 * width
        self.deep = nn.ModuleList(deep)
        self.lateral = nn.ModuleList(nn.Conv2d(4 * width, 2 * width, 1) for _ in deep)
        self.smooth = _conv(2 * width, 2 * width) if deep else nn.Identity()
        self.out = ZeroConv2d(2 * width, out_dim, 1)

    def forward(self, stem):
        x4 = self.stages(stem)
        maps, x = [], x4
        for stage in self.deep:
            x = stage(x)
            maps.append(x)
        top = None
        for lateral, m in zip(reversed(self.lateral), reversed(maps)):
            y = lateral(m)
            top = y if top is None else y + F.interpolate(top, size=y.shape[-2:], mode="bilinear",
                                                          align_corners=False)
        if top is not None:
            x4 = self.smooth(x4 + F.interpolate(top, size=x4.shape[-2:], mode="bilinear", align_corners=False))
        return self.out(x4)


class DetectionHead(nn.Module):
    """Dense grounding head conditioned on a ``[DET]`` hidden state.

    The stride 4/8/16 backbone features and the fused stride-16 grid are merged
    FPN-style at stride 4, modulated by FiLM (gamma, beta from the ``[DET]`` state),
    and predict a centre heatmap (1), box size (2, in stride cells) and sub-cell
    offset (2). A full-resolution mask logit map of the queried class comes from the
    conditioned features upsampled and merged with the stride-1 stem features.

    ``config.det_branch`` > 0 adds the head's own stride-2/4 features from the stem
    (:class:`DetBranch`; ``config.det_branch_levels`` > 2 takes it deeper, to stride 16,
    and back) to the merged stride-4 map; ``config.det_blocks`` > 0 adds that
    many residual 3x3 blocks (dilations 1, 2, 1, 2, ...) after FiLM, where the head's
    query-conditioned part was a single 3x3 convolution. Both start as no-ops.

    ``config.det_backbone`` > 0 replaces the shared features altogether: the head reads the
    view through a :class:`DenseBackbone` of its own over the stem (no shared stride-4/8/16
    features, no fused grid), and the ``[DET]`` state conditions that map by FiLM as before.
    """

    def __init__(self, config, llm_hidden: int, channels: tuple[int, int, int]):
        super().__init__()
        d = config.det_dim
        w = config.det_backbone
        if w and config.det_branch:
            raise ValueError(f"det_backbone={w} and det_branch={config.det_branch}: the head reads the view "
                             "through one of them; set the other to 0")
        self.backbone = DenseBackbone(config.stem_width, (w // 2, w, 2 * w, 4 * w, 4 * w), out_dim=d) if w else None
        if self.backbone is None:
            self.lat4 = nn.Conv2d(channels[0], d, 1)
            self.lat8 = nn.Conv2d(channels[1], d, 1)
            self.lat16 = nn.Conv2d(channels[2] + config.fusion_dim, d, 1)
        self.smooth = _conv(d, d)
        self.film = nn.Linear(llm_hidden, 2 * d)
        nn.init.zeros_(self.film.weight)
        nn.init.zeros_(self.film.bias)
        self.branch = (DetBranch(config.stem_width, config.det_branch, d, config.det_branch_levels)
                       if config.det_branch else None)
        self.blocks = nn.Sequential(*(_Residual(d, dilation=1 + i % 2) for i in range(config.det_blocks)))
        self.trunk = _conv(d, d)
        self.heatmap = nn.Conv2d(d, 1, 1)
        nn.init.constant_(self.heatmap.bias, -2.19)  # prior 0.1, as in CenterNet
        self.size = nn.Conv2d(d, 2, 1)
        self.offset = nn.Conv2d(d, 2, 1)
        r = config.mask_refine_dim
        self.mask_proj = nn.Conv2d(d, r, 1)
        self.mask_out = nn.Sequential(nn.Conv2d(r + config.stem_width, r, 3, padding=1), nn.GELU(),
                                      nn.Conv2d(r, 1, 1))
        self.stride = config.det_stride

    @property
    def reads_view(self) -> bool:
        """Whether part of the head depends on the view alone (:meth:`view_term`)."""
        return self.backbone is not None or self.branch is not None

    def view_term(self, stem):
        """The backbone's or branch's stride-4 map of each view (no query reads it), or None without either."""
        own = self.backbone if self.backbone is not None else self.branch
        return None if own is None else own(stem.to(self.heatmap.weight.dtype))

    def forward(self, hidden, s4, s8, s16, fused, stem, view=None, mask_rows=None) -> dict:
        """Raw maps for N queries: heatmap (N, 1, h, w) logits, size, offset, mask (N, S, S) logits.

        ``view`` is :meth:`view_term` of these rows, computed once per view by the caller;
        None computes it here. ``mask_rows`` (indices) computes the full-resolution mask of
        those rows only (the costly part of a training step); None, of every row.
        """
        if self.backbone is not None:
            x4 = self.view_term(stem) if view is None else view.to(self.heatmap.weight.dtype)
        else:
            x16 = self.lat16(torch.cat([s16, fused.to(s16.dtype)], dim=1))
            x8 = self.lat8(s8) + F.interpolate(x16, size=s8.shape[-2:], mode="bilinear", align_corners=False)
            x4 = self.lat4(s4) + F.interpolate(x8, size=s4.shape[-2:], mode="bilinear", align_corners=False)
            if self.branch is not None:
                x4 = x4 + (self.view_term(stem) if view is None else view.to(x4.dtype))
        x = self.smooth(x4)
        gamma, beta = self.film(hidden.to(x.dtype)).chunk(2, dim=-1)
        x = x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]
        x = self.trunk(self.blocks(x))
        xm, sm = (x, stem) if mask_rows is None else (x[mask_rows], stem[mask_rows])
        m = F.interpolate(self.mask_proj(xm), size=sm.shape[-2:], mode="bilinear", align_corners=False)
        mask = self.mask_out(torch.cat([m, sm.to(m.dtype)], dim=1))[:, 0]
        return {"heatmap": self.heatmap(x), "size": F.relu(self.size(x)), "offset": self.offset(x).sigmoid(),
                "mask": mask}

    @torch.no_grad()
    def decode(self, maps: dict, threshold: float, max_detections: int, kernel: int = 3,
               min_box: float = 1.0, canvas: int | None = None,
               valid_mask: torch.Tensor | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Boxes (canvas pixels) and scores per query from heatmap peaks above ``threshold``.

        With ``valid_mask`` (N, 1, S, S), peaks whose cell holds no valid pixel (canvas
        padding, nodata) are dropped: their boxes would lie outside the data.
        """
        heat = maps["heatmap"].float().sigmoid()
        peaks = heat == F.max_pool2d(heat, kernel, stride=1, padding=kernel // 2)
        heat = heat * peaks
        if valid_mask is not None:
            valid = F.adaptive_max_pool2d(valid_mask.float(), heat.shape[-2:]) > 0
            heat = heat.masked_fill(~valid, -1.0)  # below any threshold
        n, _, h, w = heat.shape
        out = []
        for i in range(n):
            k = min(max_detections, h * w)
            scores, idx = heat[i, 0].flatten().topk(k)
            keep = scores >= threshold
            scores, idx = scores[keep], idx[keep]
            ys, xs = (idx // w).float(), (idx % w).float()
            off = maps["offset"][i].float().flatten(1)[:, idx]
            wh = maps["size"][i].float().flatten(1)[:, idx].clamp_min(min_box / self.stride)
            cx, cy = (xs + off[0]) * self.stride, (ys + off[1]) * self.stride
            bw, bh = wh[0] * self.stride, wh[1] * self.stride
            boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=-1)
            if canvas is not None:
                boxes = boxes.clamp(0, canvas)
            out.append((boxes, scores))
        return out
