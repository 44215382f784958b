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

With ``--roi`` a fourth, ``RoI probe``: the same linear probe fitted on the backbone's
stride-4 and stride-8 features and the full-resolution stem, each resampled to a 4 x 4 grid
over the prompt's box with half its size of context on every side (RoI-align), standardised.
It keeps the object's layout that the token's masked average drops: a RoI probe well above
the token probe says a region-crop input would help the model tell the classes apart; one
no better says the backbone's features do not separate them either. A second table gives
each class's accuracy on the validation prompts.
"""

from __future__ import annotations

from pathlib import Path

from _cli import REAL_DATASETS, diagnostic_parser


def region_tokens(model, processor, samples: list[dict], data_root: Path, batch_size: int = 8, roi: bool = False):
    """(tokens (N, D), labels (N,), own-head predictions (N,), RoI features (N, F) or None) of the
    samples' labelled prompts."""
    import torch

    from egx_notebook.model.data.loading import load_sample
    from egx_notebook.model.modeling.projector import roi_layout

    captured = {}
    hooks = [model.region_projector.register_forward_hook(lambda m, i, o: captured.__setitem__("r", o.detach()))]
    if roi:
        hooks.append(model.vision.register_forward_hook(lambda m, i, o: captured.__setitem__("f", o)))
    xs, ys, rs = [], [], []
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
            if roi:
                f, masks = captured["f"], batch["prompt_masks"][:, : regions.shape[1]]
                with torch.no_grad():
                    rs.append(roi_layout((f.s4, f.s8, f.stem), masks, grid=4)[keep])
    finally:
        for h in hooks:
            h.remove()
    x, y = torch.cat(xs), torch.cat(ys)
    with torch.no_grad():
        own = model.region_classifier(x).argmax(-1)
    return x, y, own, (torch.cat(rs) if roi else None)


def standardised(train, val):
    """``train`` and ``val`` features scaled by the training mean and spread."""
    mu, sd = train.mean(0), train.std(0) + 1e-5
    return (train - mu) / sd, (val - mu) / sd


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
    p.add_argument("--roi", action="store_true", help="also fit a probe on RoI-aligned backbone features")
    a = p.parse_args(argv)

    model, processor = egx.use(str(a.checkpoint)).load()
    model.eval()
    splits = {split: read_samples(a.data / f"{split}.jsonl") for split in ("train", "val")}
    print(f"region-token separability: {a.checkpoint}")
    roi_col = " RoI probe |" if a.roi else ""
    print(f"| dataset | train / val prompts | own head | fitted probe |{roi_col} majority | val classes |")
    print("|---|---|---|---|---|---|" + ("---|" if a.roi else ""))
    per_class = []
    names = ["own head", "fitted probe"] + (["RoI probe"] if a.roi else [])
    for ds in a.datasets.split(","):
        picked = {split: [s for s in rows if s["dataset"] == ds and s["task"] == "refer"]
                  for split, rows in splits.items()}
        xt, yt, _, rt = region_tokens(model, processor, picked["train"][: a.per_dataset], a.data_root, roi=a.roi)
        xv, yv, own, rv = region_tokens(model, processor, picked["val"][: a.per_dataset // 2], a.data_root,
                                        roi=a.roi)
        if not len(yt) or not len(yv):
            print(f"| {ds} | {len(yt)} / {len(yv)} | - | - |{' - |' if a.roi else ''} - | - |")
            continue
        probe = fit_probe(xt, yt, len(REGION_CLASSES))
        with torch.no_grad():
            preds = {"own head": own, "fitted probe": probe(xv).argmax(-1)}
        if a.roi:
            rt, rv = standardised(rt, rv)
            roi_probe = fit_probe(rt, yt, len(REGION_CLASSES))
            with torch.no_grad():
                preds["RoI probe"] = roi_probe(rv).argmax(-1)
        counts = np.bincount(yv.numpy(), minlength=len(REGION_CLASSES))
        classes = ", ".join(f"{REGION_CLASSES[k]} {c}" for k, c in enumerate(counts) if c)
        scores = " | ".join(f"{(p == yv).float().mean().item():.2f}" for p in preds.values())
        print(f"| {ds} | {len(yt)} / {len(yv)} | {scores} | {counts.max() / counts.sum():.2f} | {classes} |")
        for k, c in enumerate(counts):
            if c:
                per_class.append((ds, REGION_CLASSES[k], int((yt == k).sum()), int(c),
                                  [(p[yv == k] == k).float().mean().item() for p in preds.values()]))
    print(f"\n| dataset | class | train / val prompts | {' | '.join(names)} |")
    print("|---|---|---|" + "---|" * len(names))
    for ds, name, n_train, n_val, accs in per_class:
        print(f"| {ds} | {name} | {n_train} / {n_val} | {' | '.join(f'{v:.2f}' for v in accs)} |")


if __name__ == "__main__":
    main()
