"""How much the image features of a checkpoint vary from one image to the next, as a table.

    python benchmarks/feature_spread.py --checkpoint runs/default/final --data runs/data \\
        --data-root ../shared/data [--samples 12]

A model whose LLM ignores the image answers every region question the same way; this
shows where along the image path the difference between images is lost. For each
stage (backbone grid, fused grid, image tokens, region tokens, text token embeddings)
it prints the mean L2 norm of a token and the spread across images (the standard
deviation over samples, averaged over positions and channels), on real validation
referring samples. A healthy model keeps the spread a sizeable fraction of the norm
per channel all the way to the image tokens.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    import torch

    from egx_notebook.model import DEFAULT_CHECKPOINT, EgxForConditionalGeneration, EgxProcessor
    from egx_notebook.model.data.loading import load_sample
    from egx_notebook.model.train import read_samples

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--data", type=Path, required=True, help="folder with val.jsonl from the dataset builder")
    p.add_argument("--data-root", type=Path, required=True)
    p.add_argument("--samples", type=int, default=12)
    a = p.parse_args(argv)

    model = EgxForConditionalGeneration.from_pretrained(a.checkpoint).eval()
    processor = EgxProcessor.from_pretrained(a.checkpoint)
    rows = read_samples(a.data / "val.jsonl")
    picked = [s for s in rows if s["task"] == "refer" and not s["image"].startswith("synthetic:")
              and len(s["prompts"]) == 1][: a.samples]
    batch = processor.collate([load_sample(s, a.data_root) for s in picked])
    c = model.config
    with torch.no_grad():
        feats = model.encode_images(batch["pixel_values"], batch["source_ids"], batch["valid_mask"])
        masks, valid = model._prompts(batch["prompt_masks"], batch.get("prompt_valid"), len(picked), feats.grid)
        embeds, fused = model.prepare_inputs_embeds(feats, batch["input_ids"], masks, valid)
    ids = batch["input_ids"]
    n = len(picked)

    def stats(x: torch.Tensor) -> tuple[float, float, float]:
        """(mean token norm, spread across samples, spread / per-channel scale) of (n, tokens, dim)."""
        norm = x.norm(dim=-1).mean().item()
        spread = x.std(0).mean().item()
        return norm, spread, spread / (norm / math.sqrt(x.shape[-1]))

    stages = {
        "backbone grid": feats.grid.flatten(2).transpose(1, 2),
        "fused grid": fused.flatten(2).transpose(1, 2),
        "image tokens": embeds[ids == c.image_token_id].view(n, -1, embeds.shape[-1]),
        "region tokens": embeds[ids == c.region_token_id].view(n, -1, embeds.shape[-1]),
    }
    text = embeds[(ids != c.image_token_id) & (ids != c.region_token_id)]
    print(f"checkpoint {a.checkpoint}; {n} validation referring samples "
          f"({', '.join(sorted({s['dataset'] for s in picked}))})")
    print(f"{'stage':<16}{'token norm':>12}{'spread':>10}{'spread/scale':>14}")
    for name, x in stages.items():
        norm, spread, rel = stats(x)
        print(f"{name:<16}{norm:>12.3f}{spread:>10.4f}{rel:>14.3f}")
    print(f"{'text embeddings':<16}{text.norm(dim=-1).mean().item():>12.3f}{'':>10}{'':>14}")


if __name__ == "__main__":
    main()
