"""The grounding calibration of DESIGN.md: a dense CenterNet-style detector trained alone.

DESIGN.md asks that grounding through the model be at least as good as a small dense
head trained from scratch on one dataset (centre heatmap + size + offset at stride 4,
256-px crops, focal loss, about 14 minutes on 2 CPU cores). This script trains that
detector and scores it on the dataset's validation chips, whole and at native
resolution, with the metric the model card uses (box F1 at IoU 0.5)::

    python benchmarks/dense_baseline.py --data-root ../shared/data --dataset ssdd --minutes 14

Its backbone (``--backbone resnet``, the default) is ``DenseBackbone``, the one a grounding
head gets with ``EgxConfig.det_backbone``, straight from the pixels; ``--backbone branch``
is the model's older grounding branch (``DetBranch`` at four levels) over a full-resolution
stem of two 3x3 convolutions. Neither has text, a query or shared features: what a
dedicated detector reaches in the same time is the bar for ``da.egx.ground``. It prints the training steps,
then precision / recall / F1 at each threshold, and milliseconds per validation image.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from egx_notebook.model.data.loading import load_image
from egx_notebook.model.data.readers import read_dataset
from egx_notebook.model.metrics import GroundingMetric
from egx_notebook.model.modeling.dense_backbone import DenseBackbone
from egx_notebook.model.modeling.detection_head import DetBranch, DetectionHead
from egx_notebook.model.modeling.losses import centre_losses

STRIDE = 4


class DenseDetector(nn.Module):
    """A backbone to a stride-4 map -> a 3x3 trunk -> heatmap / size / offset heads.

    ``backbone="resnet"``: :class:`DenseBackbone` straight from the pixels (``width`` channels
    at stride 4, 2x, 4x, 4x at strides 8, 16, 32). ``backbone="branch"``: a full-resolution stem
    of two 3x3 convolutions and ``DetBranch`` at four levels (``width`` channels at stride 2).
    """

    stride = STRIDE
    decode = DetectionHead.decode  # the model's own peak decoding (it reads only ``self.stride``)

    def __init__(self, bands: int, backbone: str = "resnet", stem_width: int = 16, width: int = 32, dim: int = 64):
        super().__init__()
        if backbone == "resnet":
            self.stem = nn.Identity()
            self.branch = DenseBackbone(bands, (width // 2, width, 2 * width, 4 * width, 4 * width), out_dim=dim)
        else:
            self.stem = nn.Sequential(nn.Conv2d(bands, stem_width, 3, padding=1), nn.GELU(),
                                      nn.Conv2d(stem_width, stem_width, 3, padding=1), nn.GELU())
            self.branch = DetBranch(stem_width, width, dim, levels=4)
        self.trunk = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.GroupNorm(1, dim), nn.GELU())
        self.heatmap = nn.Conv2d(dim, 1, 1)
        nn.init.constant_(self.heatmap.bias, -2.19)  # prior 0.1, as in CenterNet
        self.size = nn.Conv2d(dim, 2, 1)
        self.offset = nn.Conv2d(dim, 2, 1)

    def forward(self, x):
        x = self.trunk(self.branch(self.stem(x)))
        return self.heatmap(x), F.relu(self.size(x)), self.offset(x).sigmoid()


def _image(rec, data_root: Path) -> np.ndarray:
    """(C, H, W) float32 in [0, 1] (the 8-bit display images of the real datasets)."""
    return load_image(rec.image, rec.source, data_root).astype(np.float32) / 255.0


def _crop(img: np.ndarray, boxes: np.ndarray, side: int, rng: np.random.Generator):
    """A random ``side`` crop (zero-padded where the image is smaller), its boxes clipped,
    dropping boxes that keep less than half their area; random flips."""
    c, h, w = img.shape
    y0 = int(rng.integers(0, max(h - side, 0) + 1))
    x0 = int(rng.integers(0, max(w - side, 0) + 1))
    out = np.zeros((c, side, side), np.float32)
    part = img[:, y0:y0 + side, x0:x0 + side]
    out[:, :part.shape[1], :part.shape[2]] = part
    b = boxes - [x0, y0, x0, y0]
    clipped = np.clip(b, 0, [part.shape[2], part.shape[1]] * 2)
    area = lambda a: (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)  # noqa: E731
    keep = area(clipped) >= 0.5 * area(b).clip(1e-6)
    b = clipped[keep]
    if rng.random() < 0.5:
        out = out[:, :, ::-1]
        b = np.stack([side - b[:, 2], b[:, 1], side - b[:, 0], b[:, 3]], 1) if len(b) else b
    if rng.random() < 0.5:
        out = out[:, ::-1]
        b = np.stack([b[:, 0], side - b[:, 3], b[:, 2], side - b[:, 1]], 1) if len(b) else b
    return np.ascontiguousarray(out), b.reshape(-1, 4)


def _losses(model, images, boxes):
    heat, size, off = model(images)
    focal, l_size, l_off = centre_losses(heat[:, 0], size, off, [torch.from_numpy(b) for b in boxes], STRIDE, 1.0)
    return focal + 0.1 * l_size + l_off


@torch.no_grad()
def detect(model, img: np.ndarray, threshold: float, max_det: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (image pixels) and scores on a whole image at native resolution."""
    c, h, w = img.shape
    ph, pw = math.ceil(h / 32) * 32, math.ceil(w / 32) * 32
    x = torch.zeros(1, c, ph, pw)
    x[0, :, :h, :w] = torch.from_numpy(img)
    heat, size, off = model(x)
    ((boxes, scores),) = model.decode({"heatmap": heat, "size": size, "offset": off}, threshold, max_det,
                                      min_box=1.0)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    return boxes.numpy(), scores.numpy()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, required=True, help="the folder holding the datasets (../shared/data)")
    p.add_argument("--dataset", default="ssdd", choices=["ssdd", "sirst-v2", "hit-uav", "nepu-owod"])
    p.add_argument("--minutes", type=float, default=14.0, help="training time budget")
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--backbone", choices=["resnet", "branch"], default="resnet",
                   help="resnet: DenseBackbone from the pixels; branch: full-resolution stem + DetBranch (4 levels)")
    p.add_argument("--width", type=int, default=32,
                   help="backbone width: channels at stride 4 (resnet) or stride 2 (branch)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.2, 0.3, 0.4, 0.5])
    p.add_argument("--max-val-images", type=int, default=None)
    a = p.parse_args(argv)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    train = read_dataset(a.dataset, a.data_root, "train")
    val = read_dataset(a.dataset, a.data_root, "val")[:a.max_val_images]
    images = [_image(r, a.data_root) for r in train]
    boxes = [np.asarray([o.box for o in r.objects], np.float32).reshape(-1, 4) for r in train]
    model = DenseDetector(images[0].shape[0], a.backbone, width=a.width)
    n_params = sum(q.numel() for q in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05)
    budget = a.minutes * 60
    start, step, losses = time.time(), 0, []
    model.train()
    while time.time() - start < budget:
        lr = a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min((time.time() - start) / budget, 1.0))))
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (step + 1) / 100)
        batch = [_crop(images[i], boxes[i], a.crop, rng) for i in rng.integers(0, len(images), a.batch_size)]
        loss = _losses(model, torch.from_numpy(np.stack([b[0] for b in batch])), [b[1] for b in batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        step += 1
    train_s = time.time() - start
    print(f"{a.dataset}: {n_params / 1e6:.2f}M parameters, {step} steps of {a.batch_size} {a.crop}-px crops "
          f"in {train_s:.0f} s; loss {np.mean(losses[:50]):.3f} (first 50) -> {np.mean(losses[-50:]):.3f} (last 50)")

    model.eval()
    metrics = {t: GroundingMetric() for t in a.thresholds}
    elapsed = []
    for rec in val:
        img = _image(rec, a.data_root)
        gt = np.asarray([o.box for o in rec.objects], np.float32).reshape(-1, 4)
        t0 = time.perf_counter()
        pred, scores = detect(model, img, min(a.thresholds))
        elapsed.append(time.perf_counter() - t0)
        for t, m in metrics.items():
            keep = scores >= t
            m.update(pred[keep], scores[keep], gt)
    print(f"\n{len(val)} validation images, whole, native resolution; "
          f"{1000 * np.median(elapsed):.0f} ms per image (median)\n")
    print("| threshold | precision | recall | F1 @ IoU 0.5 |")
    print("|---|---|---|---|")
    for t, m in metrics.items():
        r = m.compute()
        print(f"| {t:.2f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} |")


if __name__ == "__main__":
    main()
