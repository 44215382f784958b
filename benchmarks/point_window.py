"""How large a window should a point prompt look through? A table per dataset and side.

    python benchmarks/point_window.py --checkpoint model/checkpoints/default \\
        --data runs/data-v4 --data-root ../shared/data [--sides 64,128,128+64] [--per-dataset 30]

A point says nothing about the size of the object under it, so the region window around
a point-only prompt has a fixed smallest side. For real validation point prompts this
asks ``da.egx.refer(point=...)`` (is the class named right?) and
``da.egx.segment(point=...)`` (mask IoU against the annotated object inside the
sample's window) exactly as a user would, once per window side, and prints the
referring accuracy and the mean mask IoU. A side ``WIDE+CLOSE`` is ``segment``'s two
looks (the mean of the masks of a WIDE and a CLOSE window; ``refer`` looks once, at WIDE);
a plain side is one look. It chose ``egx_notebook.views.POINT_REGION_SIDE`` (for masks of
infrared points too since version 14; 64 px before) and
``egx_notebook.asking.CLOSE_POINT_SIDE``, ``segment``'s second look.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from _cli import REAL_DATASETS, diagnostic_parser


def main(argv: list[str] | None = None) -> None:
    import egx_notebook as egx
    import egx_notebook.asking as asking
    from egx_notebook.model.data.loading import load_sample
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate import class_mentioned
    from egx_notebook.model.metrics import AccuracyMetric, MaskIoUMetric
    from egx_notebook.model.train import read_samples

    p = diagnostic_parser(__doc__)
    p.add_argument("--sides", default="64,128,128+64",
                   help="comma-separated smallest window sides (raster pixels); WIDE+CLOSE: segment looks twice "
                        "and averages the masks (the product's own: 128+64)")
    p.add_argument("--per-dataset", type=int, default=30, help="point prompts per dataset and task")
    a = p.parse_args(argv)
    sides = a.sides.split(",")
    classes = {c.label: list(c.singular + c.plural) for c in CLASSES.values()}
    egx.use(str(a.checkpoint))
    rows = [s for s in read_samples(a.data / "val.jsonl")
            if s["dataset"] in REAL_DATASETS and s["prompts"] and len(s["prompts"]) == 1
            and s["prompts"][0]["kind"] == "point" and s["task"] in ("refer", "segment")]
    print(f"point-prompt window: {a.checkpoint}")
    print("| dataset | side | refer accuracy (prompts) | point mask IoU (prompts) |")
    print("|---|---|---|---|")
    own = asking.region_side, asking.CLOSE_POINT_SIDE
    try:
        for ds in REAL_DATASETS:
            for side in sides:
                # every task gets this side here, whatever region_side would choose; "128+64" is
                # segment's two looks (128 px and a closer 64 px, masks averaged), "128" one look
                # (a close window as large as the wide one is the same view, so run_task looks once)
                wide_side, _, close_side = side.partition("+")
                wide, close = int(wide_side), int(close_side or wide_side)
                asking.region_side = lambda kinds, wide=wide: wide
                asking.CLOSE_POINT_SIDE = close
                right, ious, n = AccuracyMetric(), MaskIoUMetric(), defaultdict(int)
                for s in rows:
                    if s["dataset"] != ds or n[s["task"]] >= a.per_dataset:
                        continue
                    x0, y0 = (s["window"] or [0, 0])[:2]
                    x, y = s["prompts"][0]["xy"]
                    da = egx.open_raster(a.data_root / s["image"], source=s["source"])
                    if s["task"] == "refer":
                        expected = class_mentioned(s["conversation"][-1]["assistant"], classes)
                        if expected is None:
                            continue
                        n["refer"] += 1
                        right.update(class_mentioned(da.egx.refer(point=(x0 + x, y0 + y)).text, classes), expected)
                    else:
                        gt = load_sample(s, a.data_root)["targets"].get("seg_mask")
                        if gt is None:
                            continue
                        n["segment"] += 1
                        answer = da.egx.segment(point=(x0 + x, y0 + y))
                        h, w = np.asarray(gt).shape
                        pred = (np.zeros((h, w), bool) if answer.mask is None else
                                answer.mask.any("object").isel(y=slice(y0, y0 + h), x=slice(x0, x0 + w)).values)
                        ious.update(pred, np.asarray(gt) > 0)
                acc, miou = right.compute(), ious.compute()
                acc = f"{acc['accuracy']:.2f} ({acc['samples']})" if acc["samples"] else "-"
                miou = f"{miou['miou']:.3f} ({miou['samples']})" if miou["samples"] else "-"
                print(f"| {ds} | {side} | {acc} | {miou} |", flush=True)
    finally:
        asking.region_side, asking.CLOSE_POINT_SIDE = own


if __name__ == "__main__":
    main()
