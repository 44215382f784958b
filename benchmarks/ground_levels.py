"""One look, tiles, or one look and a second look over what it doubts: grounding F1 per rule.

``da.egx.ground()`` on a chip looks at it whole, decimated to the model input. This asks
each real validation chip through the public API and scores these rules at ``--threshold``:

* **one look**: the whole look's boxes (``level="scene"``);
* **tiles**: native-resolution tiles over the whole chip (``whole_up_to=1``), merged with NMS;
* **one look + tiles**: both, merged with NMS at IoU 0.5;
* **second look from r** (``ground``'s default with ``recheck_from=r``): the whole look's
  boxes >= threshold, plus the boxes of native-resolution windows over the doubtful
  whole-look boxes (scored in [r, threshold); "under m px" rows only those smaller than
  ``--max-side`` m px on the model input, ``RECHECK_MAX_SIDE`` by default when it is set)
  that lie on a doubtful box and on no kept one; "any size" (``ground``'s default since
  version 12) has no size condition. These rows are ``run_ground`` itself (at
  ``WHOLE_UP_TO``, not the model's per-class rule), so the looks per image are the windows
  it grounded.

Boxes only: SIRST-v2's set IoU / Pd / Fa come from the masks, through
``python -m egx_notebook.model.evaluate_api``. ``--no-tiles`` skips the two tile rows (the
slowest).

    python benchmarks/ground_levels.py --data-root ../shared/data [--checkpoint DIR]
        [--threshold 0.4] [--recheck-from 0.2 0.3] [--max-side 8 12 16] [--context 0.25] [--max-images 100] [--no-tiles]
"""

from __future__ import annotations

import numpy as np

from _cli import REAL_DATASETS, grounding_parser


def _merged(a: tuple, b: tuple) -> tuple[np.ndarray, np.ndarray]:
    from egx_notebook.tiling import nms

    boxes, scores = np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])
    keep = nms(boxes, scores, None, 0.5) if len(boxes) else []
    return boxes[keep], scores[keep]


def main() -> None:
    p = grounding_parser(__doc__)
    p.add_argument("--threshold", type=float, default=None,
                   help="detection threshold; default: the model's own for each class")
    p.add_argument("--recheck-from", type=float, nargs="+", default=[0.2, 0.3], help="second-look lower scores")
    p.add_argument("--max-side", type=float, nargs="+", default=None,
                   help="largest doubtful box looked at again, model-input px (default: RECHECK_MAX_SIDE)")
    p.add_argument("--no-tiles", action="store_true", help="skip the tiles and one look + tiles rows")
    p.add_argument("--context", type=float, default=None,
                   help="context around each doubtful box, a fraction of the model input (default: RECHECK_CONTEXT)")
    a = p.parse_args()

    import egx_notebook as egx
    from egx_notebook.asking import RECHECK_CONTEXT, RECHECK_MAX_SIDE, WHOLE_UP_TO, run_ground
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate_api import grounding_images, kept_objects
    from egx_notebook.model.metrics import GroundingMetric

    engine = egx.use(None if a.checkpoint is None else str(a.checkpoint))
    engine.cache_size = max(engine.cache_size, 32)  # the rules share the whole look's and their windows' encodings
    context = RECHECK_CONTEXT if a.context is None else a.context
    sides = a.max_side or ([] if RECHECK_MAX_SIDE is None else [RECHECK_MAX_SIDE])
    second = [(f"second look from {r:g}, under {m:g} px", r, m) for r in a.recheck_from for m in sides]
    second += [(f"second look from {r:g}, any size", r, None) for r in a.recheck_from]
    rules = ["one look", *([] if a.no_tiles else ["tiles", "one look + tiles"]), *[name for name, _, _ in second]]
    metrics: dict[tuple[str, str], GroundingMetric] = {}
    n_looks: dict[tuple[str, str], list[int]] = {}
    used: dict[str, float] = {}
    for ds, label, _, truth, da in grounding_images(a.data_root, max_images=a.max_images, datasets=a.datasets):
        name = CLASSES[label].plural[0]
        question = f"Find all {name}."
        threshold = a.threshold if a.threshold is not None else engine.class_score_threshold(name)
        if threshold is None:  # the class has no threshold of its own: the model's one
            threshold = engine.score_threshold
        used[ds] = threshold
        whole = kept_objects(da.egx.ground(name, level="scene", min_score=threshold), threshold)[:2]
        answers = [(whole, 1)]
        if not a.no_tiles:
            tiled = da.egx.ground(name, whole_up_to=1, min_score=threshold)
            tiles = kept_objects(tiled, threshold)[:2]
            answers += [(tiles, len(tiled.views)), (_merged(whole, tiles), 1 + len(tiled.views))]
        for _, r, side in second:
            ans = run_ground(da, name, question, min_score=threshold, whole_up_to=WHOLE_UP_TO, recheck_from=r,
                             recheck_max_side=side, recheck_context=context, engine=engine)
            answers.append((kept_objects(ans, threshold)[:2], len(ans.views)))
        for rule, ((boxes, scores), looks) in zip(rules, answers):
            metrics.setdefault((rule, ds), GroundingMetric()).update(boxes, scores, truth)
            n_looks.setdefault((rule, ds), []).append(looks)

    datasets = [d for d in REAL_DATASETS if any(k[1] == d for k in metrics)]
    at = ", ".join(f"{ds} {t:g}" for ds, t in used.items())
    print(f"\nground() rules at threshold {at}, second-look context {context:g} of the input: F1 at IoU 0.5 "
          "(precision / recall), false boxes per image; then the model looks each takes per image (mean)\n")
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
