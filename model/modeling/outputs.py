"""Output dataclasses of EarthGPT-X (plain tensors; cacheable, movable with ``.to``)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from transformers.utils import ModelOutput

__all__ = ["EgxImageFeatures", "EgxOutput", "EgxGenerateOutput"]


@dataclass
class EgxImageFeatures:
    """What ``encode_images`` computes once per view (SAM-predictor style cache).

    Attributes
    ----------
    stem : (B, stem_width, S, S) full-resolution per-source stem features (mask path).
    s4, s8, s16 : backbone features at strides 4, 8 and 16.
    grid : (B, fusion_dim, S/16, S/16) image tokens before prompt fusion.
    valid_mask : (B, 1, S, S) 1 where the canvas holds valid data.
    source_ids : (B,) source of each image.
    seg_view : (B, mask_refine_dim, S, S) or None; the view's term of the ``[SEG]``
        refinement, filled in by the first mask asked of these features without
        gradients, so follow-up masks skip the full-resolution work.
    det_view : (B, det_dim, S/4, S/4) or None; the grounding head's own backbone or branch
        over the view (``config.det_backbone``, ``config.det_branch``), which no query
        changes: kept like ``seg_view``.
    view_scale : (B,) or None; raster pixels per canvas pixel of each view (above 1 when
        the view was shrunk to the canvas, below 1 when a small window was enlarged);
        None reads as 1. Only a model with ``config.region_scale`` uses it.
    """

    stem: torch.Tensor
    s4: torch.Tensor
    s8: torch.Tensor
    s16: torch.Tensor
    grid: torch.Tensor
    valid_mask: torch.Tensor
    source_ids: torch.Tensor
    seg_view: torch.Tensor | None = None
    det_view: torch.Tensor | None = None
    view_scale: torch.Tensor | None = None

    def to(self, *args, **kwargs) -> "EgxImageFeatures":
        """Move (and cast floating tensors) like ``torch.Tensor.to``."""
        out = {}
        for f in fields(self):
            t = getattr(self, f.name)
            if t is None:
                out[f.name] = None
            elif t.is_floating_point():
                out[f.name] = t.to(*args, **kwargs)
            else:
                dev = kwargs.get("device", next((a for a in args if isinstance(a, (str, torch.device))), None))
                out[f.name] = t.to(dev) if dev is not None else t
        return EgxImageFeatures(**out)

    def select(self, index: torch.Tensor) -> "EgxImageFeatures":
        """Rows ``index`` of every tensor (used to broadcast one view over several prompts)."""
        return EgxImageFeatures(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[index])
                                   for f in fields(self)})

    @property
    def batch_size(self) -> int:
        return int(self.grid.shape[0])


@dataclass
class EgxOutput(ModelOutput):
    """Output of ``EgxForConditionalGeneration.forward``."""

    loss: torch.Tensor | None = None
    loss_terms: dict | None = None
    logits: torch.Tensor | None = None
    seg_logits: torch.Tensor | None = None
    det_heatmap: torch.Tensor | None = None


@dataclass
class EgxGenerateOutput:
    """Output of ``EgxForConditionalGeneration.generate`` (canvas pixels; one entry per row).

    Attributes
    ----------
    sequences : (B, T) generated token ids (after the prompt), ``pad`` after ``<|end|>``.
    prompt_ids : (B, L) the prompt token ids (for labels in post-processing).
    boxes : list of (N_b, 4) canvas boxes from the ``[DET]`` head.
    scores : list of (N_b,) heatmap peak scores.
    box_mask_logits : list of (N_b, S, S) per-pixel mask logits of the queried class
        (restrict to box i for instance i).
    seg_mask_logits : list of (M_b, S, S) one mask per ``[SEG]``.
    """

    sequences: torch.Tensor
    prompt_ids: torch.Tensor
    boxes: list
    scores: list
    box_mask_logits: list
    seg_mask_logits: list
