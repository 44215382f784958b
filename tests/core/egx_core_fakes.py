"""Test double for the model seam: follows docs/architecture.md, answers from the prompts it gets.

It is *not* a model: post_process echoes the prompts back (a box prompt becomes a box
and a filled mask on the view grid), so tests can check that geometry survives the
round trip raster CRS -> view pixels -> raster grid exactly.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch


class FakeProcessor:
    image_size = 64

    def __init__(self):
        self.calls = []
        self.last_prompts = []
        self.arrays = []

    def preprocess_image(self, array, source, sar_scale=None, pixel_scale=1.0):
        self.calls.append(("preprocess_image", source, sar_scale, array.shape, pixel_scale))
        self.arrays.append(array)
        c, h, w = array.shape
        s = self.image_size
        return SimpleNamespace(
            pixel_values=torch.zeros(1, 3, s, s), source_ids=torch.zeros(1, dtype=torch.long),
            valid_mask=torch.ones(1, 1, s, s), geometry=SimpleNamespace(height=h, width=w, scale=s / max(h, w), canvas=s),
            view_scale=torch.tensor([pixel_scale * max(h, w) / s]),
        )

    def build_inputs(self, task, question, n_regions=0, history=()):
        self.calls.append(("build_inputs", task, question, n_regions, list(history)))
        return {"input_ids": torch.ones(1, 4, dtype=torch.long), "attention_mask": torch.ones(1, 4, dtype=torch.long)}

    def rasterize_prompts(self, prompts, geometry):
        self.last_prompts = list(prompts)
        return torch.zeros(1, len(prompts), self.image_size, self.image_size)

    def post_process(self, out, geometry):
        h, w = geometry.height, geometry.width
        boxes, masks = [], []
        yy, xx = np.mgrid[0:h, 0:w] + 0.5
        for p in self.last_prompts:
            if p["kind"] == "box":
                x0, y0, x1, y1 = p["xyxy"]
            elif p["kind"] == "point":
                x, y = p["xy"]
                x0, y0, x1, y1 = x - 2, y - 2, x + 2, y + 2
            elif p["kind"] == "polygon":
                ext = np.asarray(p["exterior"])
                x0, y0 = ext.min(0)
                x1, y1 = ext.max(0)
            else:
                r, c = np.nonzero(p["mask"])
                x0, y0, x1, y1 = c.min(), r.min(), c.max() + 1, r.max() + 1
            boxes.append([x0, y0, x1, y1])
            masks.append(((xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)).astype(np.float32))
        if not self.last_prompts:  # a 'detection' in the view centre
            boxes.append([w / 4, h / 4, w / 2, h / 2])
            masks.append(((xx >= w / 4) & (xx < w / 2) & (yy >= h / 4) & (yy < h / 2)).astype(np.float32))
        return [dict(text=f"echo {len(boxes)}", boxes=np.array(boxes, float).reshape(-1, 4),
                     scores=np.full(len(boxes), 0.9), labels=["thing"] * len(boxes),
                     masks=np.stack(masks) if masks else None)]


class FakeModel:
    def __init__(self):
        self.encode_calls = 0
        self.generate_calls = 0

    def to(self, device=None, dtype=None):
        return self

    def eval(self):
        return self

    def encode_images(self, pixel_values, source_ids, valid_mask, view_scale=None):
        self.encode_calls += 1
        return SimpleNamespace(features=pixel_values)

    def generate(self, image_features, input_ids, attention_mask, prompt_masks, max_new_tokens=48):
        self.generate_calls += 1
        return torch.zeros(1, 2, dtype=torch.long)
