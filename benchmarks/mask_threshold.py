"""Point-prompt mask IoU by mask threshold, with and without keeping only the piece at the point.

    python benchmarks/mask_threshold.py --checkpoint model/checkpoints/default \\
        --data runs/data-v4 --data-root ../shared/data [--per-dataset 60]

For real validation ``segment`` samples with one point prompt it asks
``da.egx.segment(point=...)`` exactly as ``evaluate_api`` does, then re-thresholds the
answer's mask probabilities (``answer.raw``) at several values (``tN``) and, for some,
keeps only the connected piece under the point, or nearest to it (``ccN``, with
``egx_notebook.asking.piece_at``, which ``segment`` applies to point prompts). The table
(mean IoU against the annotated object in the sample's window) is what
``egx_notebook.asking.MASK_THRESHOLD`` was chosen from.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from _cli import diagnostic_parser

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
COMPONENT_THRESHOLDS = (0.3, 0.4, 0.5)


def main(argv: list[str] | None = None) -> None:
    import egx_notebook as egx
    from egx_notebook.asking import piece_at
    from egx_notebook.model.data.loading import load_sample
    from egx_notebook.model.metrics import MaskIoUMetric
    from egx_notebook.model.train import read_samples
    from egx_notebook.views import paint

    p = diagnostic_parser(__doc__)
    p.add_argument("--per-dataset", type=int, default=60)
    a = p.parse_args(argv)

    egx.use(str(a.checkpoint))
    ious: dict[str, dict[str, MaskIoUMetric]] = defaultdict(lambda: defaultdict(MaskIoUMetric))
    n: dict[str, int] = defaultdict(int)
    for s in read_samples(a.data / "val.jsonl"):
        if (s["task"] != "segment" or s["dataset"] == "synthetic" or len(s["prompts"]) != 1
                or s["prompts"][0]["kind"] != "point" or n[s["dataset"]] >= a.per_dataset):
            continue
        gt = load_sample(s, a.data_root)["targets"].get("seg_mask")
        if gt is None:
            continue
        gt = np.asarray(gt) > 0
        n[s["dataset"]] += 1
        x0, y0 = (s["window"] or [0, 0])[:2]
        x, y = x0 + s["prompts"][0]["xy"][0], y0 + s["prompts"][0]["xy"][1]
        da = egx.open_raster(a.data_root / s["image"], source=s["source"])
        answer = da.egx.segment(point=(x, y))
        view = answer.views[0]
        prob = np.asarray(answer.raw[0]["masks"])[-1]  # the [SEG] mask follows any box masks
        at = ((x - view.col_off) / view.factor, (y - view.row_off) / view.factor)
        variants = {f"t{t}": prob > t for t in THRESHOLDS}
        variants.update({f"cc{t}": piece_at(prob > t, [at]) for t in COMPONENT_THRESHOLDS})
        h, w = gt.shape
        for name, vmask in variants.items():
            pred = paint([(view, vmask)], y0, y0 + h, x0, x0 + w)
            for key in (s["dataset"], "all"):
                ious[key][name].update(pred, gt)

    names = [f"t{t}" for t in THRESHOLDS] + [f"cc{t}" for t in COMPONENT_THRESHOLDS]
    print("| dataset | points | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for key in sorted(ious, key=lambda k: (k == "all", k)):
        row = {k: ious[key][k].compute() for k in names}
        print(f"| {key} | {row[names[0]]['samples']} | " + " | ".join(f"{row[k]['miou']:.3f}" for k in names) + " |")


if __name__ == "__main__":
    main()
