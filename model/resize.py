"""Change a checkpoint's input size (``image_size``) by resampling its position embeddings.

    python -m egx_notebook.model.resize model/checkpoints/default --image-size 384 --out runs/v11-384

Every part of the model is size-agnostic but two learned position tables: the fusion
block's (one row per stride-16 cell of the image grid) and the prompt ViT's (one per
16-px patch, plus its CLS row). Both are resampled bicubically to the new grid, as
ViTs are moved to a larger input before fine-tuning (Dosovitskiy et al., ICLR 2021,
section 3.2). The output is a complete checkpoint that loads with ``egx.use(path)`` and
warm-starts training with ``--init-from``; the resampled model sees the same field of
view at finer detail. Fine-tune it at the new size before trusting its scores.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path

__all__ = ["resize_checkpoint", "resample_grid_table", "main"]

WEIGHTS_FILE = "model.safetensors"
FUSION_POS = "fusion.pos"
PROMPT_POS = "prompt_encoder.vit.embeddings.position_embeddings"


def resample_grid_table(table, side: int, leading: int = 0):
    """Resample a (1, leading + g*g, D) position table to (1, leading + side*side, D).

    Parameters
    ----------
    table : torch.Tensor
        Rows ``leading:`` are a row-major g x g grid; the first ``leading`` rows (a CLS
        token's) are kept as they are.
    side : int
        The new grid side.
    leading : int
        How many rows precede the grid.

    Returns
    -------
    torch.Tensor
        The resampled table, in the input's dtype.
    """
    import torch.nn.functional as F
    import torch

    head, grid = table[:, :leading], table[:, leading:]
    g = math.isqrt(grid.shape[1])
    if g * g != grid.shape[1]:
        raise ValueError(f"a position table of {grid.shape[1]} grid rows is not square")
    if g == side:
        return table.clone()
    x = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(side, side), mode="bicubic", align_corners=False)
    x = x.permute(0, 2, 3, 1).reshape(1, side * side, -1).to(table.dtype)
    return torch.cat([head, x], dim=1)


def resize_checkpoint(checkpoint: str | Path, out: str | Path, image_size: int) -> Path:
    """Write ``checkpoint`` at input size ``image_size`` to the new folder ``out``.

    Parameters
    ----------
    checkpoint : path
        A checkpoint folder (``config.json``, ``processor_config.json``, weights).
    out : path
        The folder to write; it must not be ``checkpoint``.
    image_size : int
        The new canvas side, a multiple of 16 (the model's coarsest stride and the
        prompt ViT's patch).

    Returns
    -------
    Path
        ``out``, with ``resize.json`` recording the source and the sizes.

    Raises
    ------
    ValueError
        A size that is not a positive multiple of 16, ``out`` equal to the input, or a
        folder that is not a checkpoint of this model.
    """
    from safetensors.torch import load_file, save_file

    src, out = Path(checkpoint), Path(out)
    image_size = int(image_size)
    if image_size <= 0 or image_size % 16:
        raise ValueError(f"image_size must be a positive multiple of 16; got {image_size}")
    if out.resolve() == src.resolve():
        raise ValueError(f"--out {out} is the input; write the resized checkpoint to a new folder")
    for name in (WEIGHTS_FILE, "config.json", "processor_config.json"):
        if not (src / name).is_file():
            raise ValueError(f"{src} has no {name}; pass a checkpoint folder (e.g. runs/NAME/final)")
    config = json.loads((src / "config.json").read_text())
    processor = json.loads((src / "processor_config.json").read_text())
    old = int(config["image_size"])
    patch = int(config["prompt_config"]["patch_size"])
    if image_size % patch:
        raise ValueError(f"image_size must be a multiple of the prompt ViT's patch ({patch}); got {image_size}")
    state = load_file(str(src / WEIGHTS_FILE))
    for key in (FUSION_POS, PROMPT_POS):
        if key not in state:
            raise ValueError(f"{src} has no tensor {key}: not an EarthGPT-X checkpoint of this package")
    state[FUSION_POS] = resample_grid_table(state[FUSION_POS], image_size // 16)
    state[PROMPT_POS] = resample_grid_table(state[PROMPT_POS], image_size // patch, leading=1)

    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name not in (WEIGHTS_FILE, "config.json", "processor_config.json", "resize.json"):
            shutil.copy2(f, out / f.name)
    config["image_size"] = image_size
    for sub in ("prompt_config", "vision_config"):
        if isinstance(config.get(sub), dict) and "image_size" in config[sub]:
            config[sub]["image_size"] = image_size
    processor["image_size"] = image_size
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "processor_config.json").write_text(json.dumps(processor, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    (out / "resize.json").write_text(json.dumps(
        {"from": str(src), "image_size": [old, image_size], "resampled": [FUSION_POS, PROMPT_POS]}, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m egx_notebook.model.resize", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint folder to resize")
    parser.add_argument("--image-size", type=int, required=True, help="new canvas side (a multiple of 16)")
    parser.add_argument("--out", required=True, help="folder to write")
    args = parser.parse_args(argv)
    path = resize_checkpoint(args.checkpoint, args.out, args.image_size)
    print(f"wrote {path} at image_size {args.image_size}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
