"""One look, tiles, or one look and a second look over what it doubts: grounding F1 per rule.

``da.egx.ground()`` on a chip looks at it whole, decimated to the model input. This asks
each real validation chip twice, at the lowest score any rule needs: one look
(``level="scene"``) and native-resolution tiles over the whole chip (``whole_up_to=1``),
and scores these rules on the same answers at ``--threshold``:

* **one look**: the whole look's boxes scored >= threshold (``recheck_from=None``);
* **tiles**: the tiles' boxes >= threshold, merged with NMS;
* **one look + tiles**: both, merged with NMS at IoU 0.5;
* **second look from r** (``ground``'s default with ``recheck_from=r``): the whole look's
  boxes >= threshold, plus each tile box >= threshold that lies on a doubtful whole-look box
  (scored in [r, threshold), smaller than ``RECHECK_MAX_SIDE`` on the model input) and on no
  kept box (IoU >= ``RECHECK_OVERLAP``); "any size" drops the size condition.

The second look is computed from the full tile run here; ``ground`` runs only the tiles
that touch a doubtful box, which gives the same boxes (tests/core/test_end_to_end.py).
Boxes only: SIRST-v2's set IoU / Pd / Fa come from the masks, through
``python -m egx_notebook.model.evaluate_api``.

    python benchmarks/ground_levels.py --data-root ../shared/data [--checkpoint DIR]
        [--threshold 0.4] [--recheck-from 0.2 0.3] [--max-side 8 12 16] [--max-images 100]
"""

from __future__ import annotations

import numpy as np

from _cli import REAL_DATASETS, grounding_parser


def second_look(whole: tuple, tiles: tuple, threshold: float, doubt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``ground``'s rule on boxes: kept whole-look boxes plus tile boxes on doubtful, not kept, ones."""
    from egx_notebook.asking import added_boxes

    (wb, ws), (tb, ts) = whole, tiles
    sure = ws >= threshold
    add = added_boxes(tb, wb[doubt], wb[sure])
    return np.concatenate([wb[sure], tb[add]]), np.concatenate([ws[sure], ts[add]])


def _merged(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    from egx_notebook.tiling import nms

    boxes, scores = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    keep = nms(boxes, scores, None, 0.5) if len(boxes) else []
    return boxes[keep], scores[keep]


def main() -> None:
    p = grounding_parser(__doc__)
    p.add_argument("--threshold", type=float, default=None, help="detection threshold; default: the model's own")
    p.add_argument("--recheck-from", type=float, nargs="+", default=[0.2, 0.3], help="second-look lower scores")
    p.add_argument("--max-side", type=float, nargs="+", default=None,
                   help="largest doubtful box looked at again, model-input px (default: RECHECK_MAX_SIDE)")
    a = p.parse_args()

    import egx_notebook as egx
    from egx_notebook.asking import RECHECK_MAX_SIDE, doubtful_boxes
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate_api import grounding_images, kept_objects
    from egx_notebook.model.metrics import GroundingMetric
    from egx_notebook.tiling import tile_views, views_touching

    engine = egx.use(None if a.checkpoint is None else str(a.checkpoint))
    threshold = engine.score_threshold if a.threshold is None else a.threshold
    low = min([threshold, *a.recheck_from])
    second = [(f"second look from {r:g}, under {m:g} px", r, m) for r in a.recheck_from
              for m in (a.max_side or [RECHECK_MAX_SIDE])]
    second += [(f"second look from {r:g}, any size", r, None) for r in a.recheck_from]
    rules = ["one look", "tiles", "one look + tiles", *[name for name, _, _ in second]]
    metrics: dict[tuple[str, str], GroundingMetric] = {}
    n_looks: dict[tuple[str, str], list[int]] = {}
    for ds, label, _, truth, da in grounding_images(a.data_root, max_images=a.max_images, datasets=REAL_DATASETS):
        name = CLASSES[label].plural[0]
        look = da.egx.ground(name, level="scene", min_score=low)
        whole, factor = kept_objects(look, low)[:2], look.views[0].factor
        tiles = kept_objects(da.egx.ground(name, whole_up_to=1, min_score=threshold), threshold)[:2]
        kept = (whole[0][whole[1] >= threshold], whole[1][whole[1] >= threshold])
        # a chip no larger than the input (factor 1) has no finer look
        doubts = [doubtful_boxes(*whole, threshold, r, factor, side) & (factor > 1) for _, r, side in second]
        answers = [kept, tiles, _merged(kept, tiles), *[second_look(whole, tiles, threshold, d) for d in doubts]]
        for rule, (boxes, scores) in zip(rules, answers):
            metrics.setdefault((rule, ds), GroundingMetric()).update(boxes, scores, truth)
        views = tile_views(da.sizes["y"], da.sizes["x"], engine.input_size, 0.25)
        for rule, n in zip(rules, [1, len(views), 1 + len(views),
                                   *[1 + len(views_touching(views, whole[0][d])) for d in doubts]]):
            n_looks.setdefault((rule, ds), []).append(n)

    datasets = [d for d in REAL_DATASETS if any(k[1] == d for k in metrics)]
    print(f"\nground() rules at threshold {threshold:g}: F1 at IoU 0.5 (precision / recall), false boxes per image; "
          "then the model looks each takes per image (mean)\n")
    print("| rule | " + " | ".join(datasets) + " | mean F1 |")
    print("|---|" + "---|" * (len(datasets) + 1))
    for rule in rules:
        cells, f1s = [], []
        for ds in datasets:
            m = metrics[(rule, ds)].compute()
            f1s.append(m["f1"])
            cells.append(f"{m['f1']:.3f} ({m['precision']:.2f} / {m['recall']:.2f}), {m['fp'] / max(m['images'], 1):.2f}")
        print(f"| {rule} | " + " | ".join(cells) + f" | {np.mean(f1s):.3f} |")
    print("\n| looks per image | " + " | ".join(datasets) + " |")
    print("|---|" + "---|" * len(datasets))
    for rule in rules:
        print(f"| {rule} | " + " | ".join(f"{np.mean(n_looks[(rule, ds)]):.1f}" for ds in datasets) + " |")


if __name__ == "__main__":
    main()
