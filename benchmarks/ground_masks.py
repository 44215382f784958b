"""Where the masks of grounded infrared small targets should come from.

``da.egx.ground("small targets")`` gives each box the ``[DET]`` head's class mask inside
it, made on the whole look (a SIRST-v2 chip decimated to the model input, targets 2-3 px
there). A zoomed ``[SEG]`` mask might be sharper: this asks ``da.egx.segment(box=...)``
on each grounded box (grown by ``--pad`` raster pixels; a region window of at least 64 px,
so the target is seen enlarged) and scores both unions with the SIRST metrics the model
card reports (set IoU, Pd, false alarms per image); a box whose ``[SEG]`` mask is empty
keeps its ``[DET]`` mask.

    python benchmarks/ground_masks.py --data-root ../shared/data [--pad 0 2] [--max-images 100]
        [--checkpoint DIR]
"""

from __future__ import annotations

import time

import numpy as np

from _cli import grounding_parser


def main() -> None:
    p = grounding_parser(__doc__)
    p.set_defaults(datasets=["sirst-v2"])
    p.add_argument("--pad", type=float, nargs="+", default=[0.0], help="raster pixels added around each box")
    a = p.parse_args()
    if a.datasets != ["sirst-v2"]:
        p.error("only sirst-v2 has target masks to score against")

    import egx_notebook as egx
    from egx_notebook.model.data.sirst import read_mask
    from egx_notebook.model.evaluate_api import grounding_images
    from egx_notebook.model.metrics import SmallTargetMetric

    egx.use(None if a.checkpoint is None else str(a.checkpoint))
    det = SmallTargetMetric()
    seg = {pad: SmallTargetMetric() for pad in a.pad}
    calls, seconds = 0, 0.0
    for _, _, rec, _, da in grounding_images(a.data_root, max_images=a.max_images, datasets=["sirst-v2"]):
        shape = (da.sizes["y"], da.sizes["x"])
        truth = read_mask(a.data_root / rec.mask_path) if rec.mask_path else np.zeros(shape, bool)
        answer = da.egx.ground("small targets")
        masks = answer.mask
        own = np.zeros((0, *shape), bool) if masks is None else np.asarray(masks.values, bool)  # (object, y, x)
        det.update(own.any(0), truth)
        with_mask = [d for d in answer.detections if d.pieces]
        for pad in a.pad:
            union = np.zeros(shape, bool)
            t0 = time.perf_counter()
            for d, m in zip(with_mask, own):
                if d.box_px is None:
                    union |= m
                    continue
                x0, y0, x1, y1 = d.box_px
                zoomed = da.egx.segment(box=(x0 - pad, y0 - pad, x1 + pad, y1 + pad)).mask
                calls += 1
                z = None if zoomed is None else np.asarray(zoomed.any("object").values, bool)
                union |= z if z is not None and z.any() else m
            seconds += time.perf_counter() - t0
            seg[pad].update(union, truth)

    def row(name: str, m: SmallTargetMetric) -> str:
        r = m.compute()
        return f"| {name} | {r['set_iou']:.3f} | {r['pd']:.3f} | {r['fa_per_image']:.2f} |"

    print(f"\nSIRST-v2 validation, {det.images} images, {det.targets} targets: masks of `ground('small targets')`\n")
    print("| masks | set IoU | Pd | Fa per image |")
    print("|---|---|---|---|")
    print(row("`[DET]` class mask in each box (what `ground` returns)", det))
    for pad in a.pad:
        print(row(f"`segment(box=...)` on each box, grown by {pad:g} px", seg[pad]))
    print(f"\n{calls} segment calls, {seconds / max(calls, 1) * 1000:.0f} ms each")


if __name__ == "__main__":
    main()
