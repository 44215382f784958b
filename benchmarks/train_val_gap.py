"""Does the grounding path underfit or overfit? The same public-API scores on train and val.

``da.egx.ground()`` is asked for each dataset's class on a seeded random draw of its
training images and of its validation images, exactly as
``python -m egx_notebook.model.evaluate_api`` asks the validation ones, and the box
precision / recall / F1 at IoU 0.5 (and, for infrared small targets, the SIRST set IoU,
Pd and Fa per image of the answer masks) are printed side by side. Train scores well
above val mean the model has learned its training images (more data or augmentation
would help); train scores as low as val mean it has not (more capacity or training).

    python benchmarks/train_val_gap.py --data-root ../shared/data [--checkpoint DIR]
        [--max-images 40] [--seed 0]
"""

from __future__ import annotations

import numpy as np

from _cli import REAL_DATASETS, grounding_parser


def scores(data_root, split: str, max_images: int, seed: int, datasets) -> dict:
    """``{dataset: {"images", "ground": GroundingMetric result, "small_target": ...}}`` for one split."""
    from egx_notebook.model.data.sirst import read_mask
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate import SMALL_TARGET_DATASETS
    from egx_notebook.model.evaluate_api import _union_mask, grounding_images, kept_objects
    from egx_notebook.model.metrics import GroundingMetric, SmallTargetMetric

    out: dict[str, dict] = {}
    for ds, label, rec, truth, da in grounding_images(data_root, max_images=max_images, datasets=datasets,
                                                      split=split, seed=seed):
        row = out.setdefault(ds, {"images": 0, "ground": GroundingMetric(), "small_target": SmallTargetMetric()})
        row["images"] += 1
        boxes, box_scores, mask = kept_objects(da.egx.ground(CLASSES[label].plural[0]), None)
        row["ground"].update(boxes, box_scores, truth)
        if ds in SMALL_TARGET_DATASETS:
            shape = (da.sizes["y"], da.sizes["x"])
            gt = read_mask(data_root / rec.mask_path) if rec.mask_path else np.zeros(shape, dtype=bool)
            row["small_target"].update(_union_mask(mask, shape), gt)
    return {ds: {"images": r["images"], "ground": r["ground"].compute(),
                 "small_target": r["small_target"].compute() if ds in SMALL_TARGET_DATASETS else None}
            for ds, r in out.items()}


def _cell(r: dict) -> str:
    g = r["ground"]
    text = f"{g['f1']:.3f} ({g['precision']:.2f} / {g['recall']:.2f})"
    if r["small_target"]:
        st = r["small_target"]
        text += f"; set IoU {st['set_iou']:.2f}, Pd {st['pd']:.2f}, Fa {st['fa_per_image']:.2f}"
    return text


def main() -> None:
    p = grounding_parser(__doc__)
    p.set_defaults(max_images=40)
    p.add_argument("--seed", type=int, default=0, help="seed of the random draw of images per split")
    a = p.parse_args()

    import egx_notebook as egx

    egx.use(None if a.checkpoint is None else str(a.checkpoint))
    split_scores = {split: scores(a.data_root, split, a.max_images, a.seed, a.datasets) for split in ("train", "val")}
    print(f"\nground() at the model's threshold on {a.max_images} random images per dataset and split "
          f"(seed {a.seed}): box F1 @ IoU 0.5 (precision / recall)\n")
    print("| dataset | train | val |")
    print("|---|---|---|")
    for ds in [d for d in REAL_DATASETS if d in split_scores["val"]]:
        cells = [_cell(split_scores[s][ds]) if ds in split_scores[s] else "-" for s in ("train", "val")]
        print(f"| {ds} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
