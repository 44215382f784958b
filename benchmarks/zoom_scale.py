"""Does enlarging a raster before asking help the model find small objects?

Each real validation chip is resampled by each ``--zooms`` factor (linear interpolation
on a new pixel grid, ``DataArray.interp``), grounded with ``da.egx.ground(name)`` at the
model's default level, and its boxes are scaled back to the chip's pixels. The table gives
grounding F1 @ IoU 0.5 (true / false boxes) at each ``--thresholds`` cut, so one can see
whether the model's scores and boxes survive a change of scale. Zoom 1 is the chip as it is.
Each zoom is asked once, with the lowest threshold as ``min_score``, and the higher cuts are
read off its boxes. A class grounded with a second look then looks again only at boxes
under the lowest threshold, so a higher cut can differ a little from asking at it
(``evaluate_api --thresholds`` asks at each); people on a raster over one model input are
tiled, with no second look.

    python benchmarks/zoom_scale.py --data-root ../shared/data --datasets hit-uav \\
        [--zooms 1 1.5 2] [--thresholds 0.4 0.45 0.5 0.55] [--max-images 100] [--checkpoint DIR]
"""

from __future__ import annotations

import numpy as np

from _cli import grounding_parser


def zoomed(da, zoom: float):
    """``da`` resampled on a grid ``zoom`` times as fine (pixel-space rasters), without its file path."""
    if zoom == 1:
        return da
    ny, nx = round(da.sizes["y"] * zoom), round(da.sizes["x"] * zoom)
    out = da.interp(y=(np.arange(ny) + 0.5) / zoom, x=(np.arange(nx) + 0.5) / zoom, method="linear",
                    kwargs={"fill_value": "extrapolate"})
    out = out.assign_coords(y=np.arange(ny) + 0.5, x=np.arange(nx) + 0.5)
    # the resampled array is not the file it was read from (egx_path is part of the encoding cache's key)
    out.attrs = {k: v for k, v in da.attrs.items() if k != "egx_path"}
    return out


def main() -> None:
    p = grounding_parser(__doc__)
    p.set_defaults(datasets=["hit-uav"])
    p.add_argument("--zooms", type=float, nargs="+", default=[1.0, 1.5, 2.0], help="resampling factors")
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.4, 0.45, 0.5, 0.55], help="score cuts")
    a = p.parse_args()
    thresholds = sorted(set(a.thresholds))

    import egx_notebook as egx
    from egx_notebook.model.data.vocabulary import CLASSES
    from egx_notebook.model.evaluate_api import grounding_images, kept_objects
    from egx_notebook.model.metrics import GroundingMetric

    if a.checkpoint is not None:
        egx.use(str(a.checkpoint))
    metrics = {}
    for ds, label, _rec, truth, da in grounding_images(a.data_root, max_images=a.max_images, datasets=a.datasets):
        if da.rio.crs is not None:
            raise SystemExit(f"{ds}: zoom_scale resamples pixel-space chips only")
        for zoom in a.zooms:
            answer = zoomed(da, zoom).egx.ground(CLASSES[label].plural[0], min_score=thresholds[0])
            boxes, scores, _ = kept_objects(answer, None)
            for t in thresholds:
                keep = scores >= t
                metrics.setdefault((ds, zoom, t), GroundingMetric()).update(boxes[keep] / zoom, scores[keep], truth)

    print("| dataset | zoom | " + " | ".join(f"F1 @ {t:g} (true / false)" for t in thresholds) + " |")
    print("|---|---|" + "---|" * len(thresholds))
    for ds in a.datasets:
        for zoom in a.zooms:
            cells = []
            for t in thresholds:
                r = metrics[(ds, zoom, t)].compute() if (ds, zoom, t) in metrics else None
                cells.append("-" if r is None else f"{r['f1']:.3f} ({r['tp']} / {r['fp']})")
            print(f"| {ds} | {zoom:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
