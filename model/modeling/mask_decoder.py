"""Pixel perception for [SEG]: a SAM mask decoder prompted by the LLM, refined at full resolution."""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.sam.modeling_sam import SamMaskDecoder, SamPositionalEmbedding

from .projector import prompt_boxes

__all__ = ["SegMaskHead"]


class SegMaskHead(nn.Module):
    """One mask per ``[SEG]`` token.

    The token's last hidden state becomes the sparse prompt of a transformers
    ``SamMaskDecoder`` (with ``config.seg_box_tokens``, followed by the SAM box tokens of
    the prompts' bounding box); the rasterised visual prompt (union of the row's prompts)
    is downsampled by convolutions into the dense prompt; the image embedding is the
    fused stride-16 grid. The decoder's stride-4 mask is refined to the full canvas
    with the stride-4 backbone features and the stride-1 stem features, so targets a
    few pixels wide survive.
    """

    def __init__(self, config, llm_hidden: int, s4_channels: int):
        super().__init__()
        mcfg = config.mask_decoder_config
        if getattr(mcfg, "_attn_implementation", None) is None:
            mcfg._attn_implementation = "eager"  # what SAM falls back to anyway, without the warning
        dim = mcfg.hidden_size
        self.decoder = SamMaskDecoder(mcfg)
        self.pos = SamPositionalEmbedding(SimpleNamespace(scale=dim // 2, num_pos_feats=dim // 2))
        self.image_proj = nn.Conv2d(config.fusion_dim, dim, 1)
        self.token_proj = nn.Sequential(nn.Linear(llm_hidden, dim), nn.GELU(), nn.Linear(dim, dim))
        self.dense_prompt = nn.Sequential(  # S -> S/16
            nn.Conv2d(1, dim // 4, 4, stride=4), nn.GELU(), nn.Conv2d(dim // 4, dim, 4, stride=4))
        self.no_prompt = nn.Parameter(torch.zeros(1, dim, 1, 1))
        # rows 0/1: top-left / bottom-right corner; row 2: "no box" (a row without prompts)
        self.corner_embed = nn.Embedding(3, dim) if config.seg_box_tokens else None
        r = config.mask_refine_dim
        self.s4_proj = nn.Conv2d(s4_channels, r, 1)
        self.refine = nn.Sequential(nn.Conv2d(1 + r + config.stem_width, r, 3, padding=1), nn.GELU(),
                                    nn.Conv2d(r, 1, 1))

    def _image_pe(self, g: int, ref: torch.Tensor) -> torch.Tensor:
        grid = torch.ones(g, g, device=ref.device, dtype=self.pos.positional_embedding.dtype)
        y = (grid.cumsum(0) - 0.5) / g
        x = (grid.cumsum(1) - 0.5) / g
        return self.pos(torch.stack([x, y], dim=-1)).permute(2, 0, 1).unsqueeze(0).to(ref.dtype)

    def box_tokens(self, prompt: torch.Tensor | None, n: int, ref: torch.Tensor) -> torch.Tensor:
        """(N, 2, dim) SAM box tokens for the bounding box of each row's prompt mask (N, 1, S, S).

        Corners are pixel edges normalised to [0, 1], encoded like the image positions;
        rows with no prompt get the learned "no box" embedding twice.
        """
        none = self.corner_embed.weight[2].to(ref.dtype).expand(n, 2, -1)
        if prompt is None:
            return none
        size = prompt.shape[-1]
        corners = prompt_boxes(prompt, threshold=0.5)[:, 0].reshape(-1, 2, 2) / size  # (N, 2 corners, xy)
        tokens = self.pos(corners[:, None].to(self.pos.positional_embedding.dtype))[:, 0].to(ref.dtype)
        tokens = tokens + self.corner_embed.weight[:2].to(ref.dtype)
        has_prompt = (prompt[:, 0] > 0.5).flatten(1).any(-1)
        return torch.where(has_prompt[:, None, None], tokens, none)

    def view_term(self, s4: torch.Tensor, stem: torch.Tensor) -> torch.Tensor:
        """The part of the refinement's first convolution that depends on the view alone.

        The convolution is linear in its input channels, so over ``[mask, s4, stem]`` it is
        the sum of one convolution of the mask and one of the view's features (zero padding
        splits the same way). The view's term, (B, mask_refine_dim, S, S) with the bias, is
        the costly one at full resolution; computed once per view and passed back to
        :meth:`forward` as ``view``, it leaves a one-channel convolution per prompt.
        """
        conv = self.refine[0]
        size = stem.shape[-2:]
        s4f = F.interpolate(self.s4_proj(s4), size=size, mode="bilinear", align_corners=False)
        feats = torch.cat([s4f, stem.to(s4f.dtype)], dim=1)
        return F.conv2d(feats, conv.weight[:, 1:], conv.bias, padding=conv.padding)

    def forward(self, hidden: torch.Tensor, fused: torch.Tensor, prompt: torch.Tensor | None,
                s4: torch.Tensor, stem: torch.Tensor, view: torch.Tensor | None = None) -> torch.Tensor:
        """Mask logits (N, S, S) for N ``[SEG]`` hidden states and their rows' features.

        ``prompt`` is (N, 1, S, S) (union of visual prompts) or None. ``view`` is the rows'
        :meth:`view_term` when it is cached; without it, it is computed here.
        """
        n, _, g, _ = fused.shape
        image = self.image_proj(fused)
        sparse = self.token_proj(hidden.to(image.dtype))[:, None, None, :]
        if self.corner_embed is not None:
            sparse = torch.cat([sparse, self.box_tokens(prompt, n, image)[:, None]], dim=2)
        if prompt is None:
            dense = self.no_prompt.to(image.dtype).expand(n, -1, g, g)
        else:
            dense = self.dense_prompt(prompt.to(image.dtype))
            dense = F.interpolate(dense, size=(g, g), mode="bilinear", align_corners=False) \
                if dense.shape[-1] != g else dense
        low, _ = self.decoder(image_embeddings=image, image_positional_embeddings=self._image_pe(g, image).expand(n, -1, -1, -1),
                              sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                              multimask_output=False)
        low = low[:, 0]  # (N, 1, 4g, 4g): stride 4
        size = stem.shape[-2:]
        up = F.interpolate(low, size=size, mode="bilinear", align_corners=False)
        if view is None:
            view = self.view_term(s4, stem)
        conv = self.refine[0]
        first = F.conv2d(up, conv.weight[:, :1], None, padding=conv.padding) + view.to(up.dtype)
        return (up + self.refine[2](self.refine[1](first)))[:, 0]
