"""How native-resolution tiles score the objects they box: localisation against confidence.

``da.egx.ground(name, whole_up_to=1)`` grounds each real validation chip on native tiles,
keeping every box down to ``--floor``. Per dataset it prints the share of true objects some
box finds at IoU >= 0.5 (at any score >= floor), the best score of those boxes (median and
90th percentile, and how many reach ``--threshold``), and the boxes on no object (IoU < 0.1
with every true box) at or above the threshold and 0.3. A dataset whose objects are boxed
but scored below clutter needs calibration at that zoom, not better boxes.

    python benchmarks/tile_scores.py --data-root ../shared/data [--datasets nepu-owod]
        [--floor 0.05] [--threshold 0.4] [--max-images 100] [--checkpoint DIR]
"""

from __future__ import annotations

import numpy as np

from _cli import grounding_parser


def main() -> None:
    p = grounding_parser(__doc__)
    p.add_argument("--floor", type=float, default=0.05, help="lowest box score kept")
    p.add_argument("--threshold", type=float, default=None, help="detection threshold; default: the model's own")
    a = p.parse_args()

    import egx_notebook as egx
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate_api import grounding_images, kept_objects
    from egx_notebook.tiling import box_iou

    engine = egx.use(None if a.checkpoint is None else str(a.checkpoint))
    threshold = engine.score_threshold if a.threshold is None else a.threshold
    rows = {}
    for ds, label, _, truth, da in grounding_images(a.data_root, max_images=a.max_images, datasets=a.datasets):
        boxes, scores = kept_objects(da.egx.ground(CLASSES[label].plural[0], whole_up_to=1, min_score=a.floor),
                                     a.floor)[:2]
        row = rows.setdefault(ds, {"images": 0, "truth": 0, "found": [], "false": []})
        row["images"] += 1
        row["truth"] += len(truth)
        iou = box_iou(truth, boxes) if len(truth) and len(boxes) else np.zeros((len(truth), len(boxes)))
        row["found"] += [float(scores[hit].max()) for hit in iou >= 0.5 if hit.any()]
        row["false"] += list(scores[iou.max(0) < 0.1] if len(truth) else scores)

    print(f"\nnative tiles (whole_up_to=1), boxes down to {a.floor:g}; objects found at IoU >= 0.5 at any score, "
          f"their best score, and boxes on no object\n")
    print(f"| dataset | images | objects | found | best score: median / 90th pct | found >= {threshold:g} "
          f"| false boxes >= {threshold:g} | false boxes >= 0.3 |")
    print("|---|---|---|---|---|---|---|---|")
    for ds, r in rows.items():
        found, false = np.array(r["found"]), np.array(r["false"])
        med = f"{np.median(found):.2f} / {np.percentile(found, 90):.2f}" if len(found) else "-"
        print(f"| {ds} | {r['images']} | {r['truth']} | {len(found) / max(r['truth'], 1):.2f} | {med} "
              f"| {(found >= threshold).sum()} | {(false >= threshold).sum()} | {(false >= 0.3).sum()} |")


if __name__ == "__main__":
    main()
