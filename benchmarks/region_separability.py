"""Do the region tokens separate a dataset's classes, and does the model's own head use it? A table.

    python benchmarks/region_separability.py --checkpoint model/checkpoints/default \\
        --data runs/data-v4 --data-root ../shared/data [--per-dataset 240]

For each real dataset it runs the training path (``processor.collate`` then the model's
forward) on referring samples and keeps the region token each prompt becomes. Three
accuracies on the validation samples' tokens:

* ``own head``: the model's training-only region classifier (shared by all datasets);
* ``fitted probe``: a linear classifier fitted on this dataset's training tokens only;
* ``majority``: always the most common validation class.

A fitted probe well above the own head means the token carries the class but the shared
head (and the LLM) decide otherwise, e.g. because another dataset's class dominates the
same kind of region.
"""

from __future__ import annotations

from pathlib import Path

from _cli import REAL_DATASETS, diagnostic_parser


def region_tokens(model, processor, samples: list[dict], data_root: Path, batch_size: int = 8):
    """(tokens (N, D), labels (N,), own-head predictions (N,)) of the samples' labelled prompts."""
    import torch

    from egx_notebook.model.data.loading import load_sample

    captured = {}
    hook = model.region_projector.register_forward_hook(lambda m, i, o: captured.__setitem__("r", o.detach()))
    xs, ys = [], []
    try:
        for i in range(0, len(samples), batch_size):
            batch = processor.collate([load_sample(s, data_root) for s in samples[i: i + batch_size]])
            with torch.no_grad():
                model(**batch)
            regions = captured["r"]
            labels = batch["region_labels"][:, : regions.shape[1]]
            keep = batch["prompt_valid"] & (labels >= 0)
            xs.append(regions[keep])
            ys.append(labels[keep])
    finally:
        hook.remove()
    x, y = torch.cat(xs), torch.cat(ys)
    with torch.no_grad():
        own = model.region_classifier(x).argmax(-1)
    return x, y, own


def fit_probe(x, y, n_classes: int, steps: int = 500, seed: int = 0):
    """A linear classifier fitted with Adam (weight decay 1e-3) on tokens ``x`` and labels ``y``."""
    import torch

    torch.manual_seed(seed)
    probe = torch.nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.Adam(probe.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(probe(x), y).backward()
        opt.step()
    return probe


def main(argv: list[str] | None = None) -> None:
    import numpy as np
    import torch

    import egx_notebook as egx
    from egx_notebook.model.data.vocabulary import REGION_CLASSES
    from egx_notebook.model.train import read_samples

    p = diagnostic_parser(__doc__)
    p.add_argument("--per-dataset", type=int, default=240, help="training samples per dataset (validation: half)")
    p.add_argument("--datasets", default=",".join(REAL_DATASETS))
    a = p.parse_args(argv)

    model, processor = egx.use(str(a.checkpoint)).load()
    model.eval()
    splits = {split: read_samples(a.data / f"{split}.jsonl") for split in ("train", "val")}
    print(f"region-token separability: {a.checkpoint}")
    print("| dataset | train / val prompts | own head | fitted probe | majority | val classes |")
    print("|---|---|---|---|---|---|")
    for ds in a.datasets.split(","):
        picked = {split: [s for s in rows if s["dataset"] == ds and s["task"] == "refer"]
                  for split, rows in splits.items()}
        xt, yt, _ = region_tokens(model, processor, picked["train"][: a.per_dataset], a.data_root)
        xv, yv, own = region_tokens(model, processor, picked["val"][: a.per_dataset // 2], a.data_root)
        if not len(yt) or not len(yv):
            print(f"| {ds} | {len(yt)} / {len(yv)} | - | - | - | - |")
            continue
        probe = fit_probe(xt, yt, len(REGION_CLASSES))
        with torch.no_grad():
            fitted = (probe(xv).argmax(-1) == yv).float().mean().item()
        counts = np.bincount(yv.numpy(), minlength=len(REGION_CLASSES))
        classes = ", ".join(f"{REGION_CLASSES[k]} {c}" for k, c in enumerate(counts) if c)
        print(f"| {ds} | {len(yt)} / {len(yv)} | {(own == yv).float().mean().item():.2f} | {fitted:.2f} "
              f"| {counts.max() / counts.sum():.2f} | {classes} |")


if __name__ == "__main__":
    main()
