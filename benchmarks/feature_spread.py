"""How much the image features of a checkpoint vary from one image to the next, as a table.

    python benchmarks/feature_spread.py --checkpoint runs/default/final --data runs/data \\
        --data-root ../shared/data [--samples 12] [--datasets ssdd,sirst-v2,hit-uav,nepu-owod]

A model whose LLM ignores the image answers every region question the same way; this
shows where along the image path the difference between images is lost. For each
stage (backbone grid, fused grid, image tokens, region tokens, text token embeddings)
it prints the mean L2 norm of a token and the spread across images (the standard
deviation over samples, averaged over positions and channels), on real validation
referring samples, one table row per dataset. A healthy model keeps the spread a
sizeable fraction of the norm per channel all the way to the image and region tokens;
near zero, every image (or region) of that dataset looks the same to the LLM.
"""

from __future__ import annotations

import math

from _cli import REAL_DATASETS, diagnostic_parser


def main(argv: list[str] | None = None) -> None:
    import torch

    from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor
    from egx_notebook.model.data.loading import load_sample
    from egx_notebook.model.train import read_samples

    p = diagnostic_parser(__doc__)
    p.add_argument("--samples", type=int, default=12, help="referring samples per dataset")
    p.add_argument("--datasets", default=",".join(REAL_DATASETS))
    a = p.parse_args(argv)

    model = EgxForConditionalGeneration.from_pretrained(a.checkpoint).eval()
    processor = EgxProcessor.from_pretrained(a.checkpoint)
    rows = read_samples(a.data / "val.jsonl")
    c = model.config

    def stats(x: torch.Tensor) -> tuple[float, float]:
        """(mean token norm, spread across samples / per-channel scale) of (n, tokens, dim)."""
        norm = x.norm(dim=-1).mean().item()
        return norm, x.std(0).mean().item() / (norm / math.sqrt(x.shape[-1]))

    print(f"checkpoint {a.checkpoint}; spread / per-channel scale of each stage (token norm in brackets)")
    print("| dataset | samples | backbone grid | fused grid | image tokens | region tokens | text embeddings |")
    print("|---|---|---|---|---|---|---|")
    for ds in a.datasets.split(","):
        picked = [s for s in rows if s["dataset"] == ds and s["task"] == "refer"
                  and len(s["prompts"]) == 1][: a.samples]
        if len(picked) < 2:
            print(f"| {ds} | {len(picked)} | need at least 2 referring samples | | | | |")
            continue
        batch = processor.collate([load_sample(s, a.data_root) for s in picked])
        with torch.no_grad():
            feats = model.encode_images(batch["pixel_values"], batch["source_ids"], batch["valid_mask"],
                                        batch["view_scale"])
            masks, valid = model._prompts(batch["prompt_masks"], batch.get("prompt_valid"), len(picked), feats.grid)
            embeds, fused = model.prepare_inputs_embeds(feats, batch["input_ids"], masks, valid)
        ids, n = batch["input_ids"], len(picked)
        stages = [feats.grid.flatten(2).transpose(1, 2), fused.flatten(2).transpose(1, 2),
                  embeds[ids == c.image_token_id].view(n, -1, embeds.shape[-1]),
                  embeds[ids == c.region_token_id].view(n, -1, embeds.shape[-1])]
        cells = []
        for x in stages:
            norm, rel = stats(x)
            cells.append(f"{rel:.3f} ({norm:.1f})")
        text = embeds[(ids != c.image_token_id) & (ids != c.region_token_id)].norm(dim=-1).mean().item()
        print(f"| {ds} | {n} | " + " | ".join(cells) + f" | ({text:.2f}) |")

if __name__ == "__main__":
    main()
