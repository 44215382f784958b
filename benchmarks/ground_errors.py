"""Where grounding goes wrong on the real validation chips: missed objects or loose boxes.

``da.egx.ground()`` is asked for each dataset's class on its validation images, as
``python -m egx_notebook.model.evaluate_api`` does, and each true object is put in one
of three bins:

* **found** - matched at IoU 0.5 (a true positive of the F1 the card reports);
* **loose** - not matched at 0.5, but a found box overlaps it at IoU >= 0.1 (the model
  saw it and boxed it badly, or boxed a neighbour with it);
* **missed** - no found box overlaps it at IoU 0.1.

Found boxes are binned the same way: matched, loose (overlapping an object at IoU >= 0.1
without a match at 0.5) or false (no object at 0.1). The object sizes (square root of
the box area) are given in raster pixels and on the model input (divided by the view's
decimation factor), which is what the detection head, at stride 4, sees.

    python benchmarks/ground_errors.py --data-root ../shared/data [--checkpoint DIR]
        [--max-images 100] [--min-score 0.4] [--whole-up-to 4]
"""

from __future__ import annotations

import numpy as np

from _cli import REAL_DATASETS, grounding_parser, recheck_from

IOU = 0.5
TOUCH = 0.1


def bins(found: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin of each true box ("found", "loose", "missed") and of each found box ("match", "loose", "false")."""
    from egx_notebook.model.metrics import box_iou, greedy_match

    iou = box_iou(found, truth)  # (0, m) or (n, 0) zeros when either side is empty
    assigned = greedy_match(iou, scores, IOU)
    matched_truth = set(int(j) for j in assigned if j >= 0)
    touched = iou >= TOUCH
    truth_bin = np.array(["found" if j in matched_truth else "loose" if touched[:, j].any() else "missed"
                          for j in range(len(truth))], dtype=object)
    found_bin = np.array(["match" if assigned[i] >= 0 else "loose" if touched[i].any() else "false"
                          for i in range(len(found))], dtype=object)
    return truth_bin, found_bin


def _median(x: list[float]) -> str:
    return f"{np.median(x):.0f}" if x else "-"


def main() -> None:
    p = grounding_parser(__doc__)
    p.add_argument("--min-score", type=float, default=None, help="detection threshold; default: the model's own")
    p.add_argument("--whole-up-to", type=float, default=None,
                   help="ground()'s whole_up_to (default: the model's own per class, else 4; 1 tiles every chip)")
    p.add_argument("--recheck-from", type=recheck_from, default=0.2,
                   help="ground()'s recheck_from (default 0.2, as the package); 'none' for one look")
    a = p.parse_args()

    import egx_notebook as egx
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate_api import grounding_images

    egx.use(None if a.checkpoint is None else str(a.checkpoint))
    per_dataset: dict[str, dict] = {}
    for ds, label, _, truth, da in grounding_images(a.data_root, max_images=a.max_images, datasets=a.datasets):
        row = per_dataset.setdefault(ds, {"images": 0, "truth": {"found": [], "loose": [], "missed": []},
                                          "found": {"match": 0, "loose": 0, "false": 0}})
        row["images"] += 1
        answer = da.egx.ground(CLASSES[label].plural[0], whole_up_to=a.whole_up_to, min_score=a.min_score,
                               recheck_from=a.recheck_from)
        factor = max(v.factor for v in answer.views)
        tb, fb = bins(answer.boxes, answer.scores, truth)
        side = np.sqrt(np.clip(truth[:, 2] - truth[:, 0], 0, None) * np.clip(truth[:, 3] - truth[:, 1], 0, None))
        for b, s in zip(tb, side):
            row["truth"][b].append((float(s), float(s) / factor))
        for b in fb:
            row["found"][b] += 1
    rows = []
    for ds in [d for d in REAL_DATASETS if d in per_dataset]:
        images, truth_bins, found_bins = per_dataset[ds]["images"], per_dataset[ds]["truth"], per_dataset[ds]["found"]
        n = sum(len(v) for v in truth_bins.values())
        share = {k: len(v) / n if n else float("nan") for k, v in truth_bins.items()}
        rows.append((ds, images, n, share, truth_bins, found_bins))

    print(f"\nground() at {'the model threshold' if a.min_score is None else a.min_score}, "
          f"whole_up_to={'own' if a.whole_up_to is None else f'{a.whole_up_to:g}'}, recheck_from={a.recheck_from}; objects: found (IoU >= {IOU}) / loose (>= {TOUCH}) / missed; "
          "sizes: median sqrt(box area), raster px (model-input px)\n")
    print("| dataset | images | objects | found | loose | missed | size found | size loose | size missed "
          "| boxes: match / loose / false |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ds, images, n, share, tb, fb in rows:
        sizes = [f"{_median([s for s, _ in tb[k]])} ({_median([s for _, s in tb[k]])})"
                 for k in ("found", "loose", "missed")]
        print(f"| {ds} | {images} | {n} | {share['found']:.2f} | {share['loose']:.2f} | {share['missed']:.2f} | "
              f"{' | '.join(sizes)} | {fb['match']} / {fb['loose']} / {fb['false']} |")


if __name__ == "__main__":
    main()
