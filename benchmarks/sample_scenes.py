"""Grounding on generated sample scenes through the public API, as the quickstart asks.

For each source, writes sample GeoTIFFs (``egx.datasets.sample_scene``) whose seeds
the default dataset build never trains on: the bundled scene (``SAMPLE_SEEDS``,
held out by the builder) and ``--scenes`` more from ``UNSEEN_SEEDS_FROM`` (50,000,000) up
(the default build uses 0..~200 for train, 10 M.. for val, 20 M.. and 30 M.. for
co-registered scenes). In each scene it grounds every class present with ``da.egx.ground`` (level
"auto": one zoomed-out look at a 512-px scene, as the quickstart does; ``--whole-up-to 1``
tiles it instead) and scores the
boxes against the scene's known objects at IoU 0.5, pooled over scenes. Prints a table.

    python benchmarks/sample_scenes.py                                  # the default checkpoint
    python benchmarks/sample_scenes.py --checkpoint runs/v10/final --scenes 20 --size 512
    python benchmarks/sample_scenes.py --sources sar --whole-up-to 1       # tiles, as for large rasters
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _cli import recheck_from

SOURCES = ("sar", "optical", "infrared")


def ground_scene(path: Path, min_score: float | None, whole_up_to: float | None = None,
                 recheck_from: float | None = 0.2) -> dict:
    """Pooled tp / fp / fn of grounding every class present in one sample scene."""
    import egx_notebook as egx

    da = egx.open_raster(path)
    known = egx.datasets.sample_objects(path)
    counts = {"tp": 0, "fp": 0, "fn": 0}
    for label in sorted(set(known["label"])):
        found = da.egx.ground(label, min_score=min_score, whole_up_to=whole_up_to, recheck_from=recheck_from)
        s = egx.score_regions(found, known[known["label"] == label])
        for k in counts:
            counts[k] += s[k]
    return counts


def _row(name: str, n_scenes: int, thr: str, c: dict) -> str:
    from egx_notebook.scoring import rates

    m = rates(c["tp"], c["fp"], c["fn"])
    return (f"| {name:<30} | {n_scenes:>6} | {c['tp'] + c['fn']:>7} | {thr:>10} | {m['precision']:>5.3f} "
            f"| {m['recall']:>5.3f} | {m['f1']:>5.3f} | {c['tp']:>3} | {c['fp']:>3} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder; default: the bundled model")
    ap.add_argument("--scenes", type=int, default=20, help="held-out scenes per source besides the bundled one")
    ap.add_argument("--size", type=int, default=512, help="scene side in pixels (the bundled samples are 512)")
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.2, 0.3],
                    help="min_score values to report besides the model's own (per class where it has them)")
    ap.add_argument("--whole-up-to", type=float, default=None,
                    help="ground's whole_up_to (default: the model's own per class, else 4, as the quickstart; "
                         "1 tiles anything over 256 px)")
    ap.add_argument("--recheck-from", type=recheck_from, default=0.2,
                    help="ground's recheck_from (default 0.2, as the package); 'none' for one look")
    ap.add_argument("--sources", nargs="+", default=list(SOURCES), choices=SOURCES)
    a = ap.parse_args(argv)

    import egx_notebook as egx
    from egx_notebook.datasets import SAMPLE_SEEDS, UNSEEN_SEEDS_FROM
    from egx_notebook.model import DEFAULT_CHECKPOINT

    ckpt = a.checkpoint or DEFAULT_CHECKPOINT
    config = json.loads((Path(ckpt) / "config.json").read_text())
    default_thr = config["det_score_threshold"]
    per_class = bool(config.get("det_class_thresholds"))  # then no one threshold is the model's own
    own = "own" if per_class else f"{default_thr:g} (def.)"
    egx.use(a.checkpoint, device="cpu")
    thresholds = [None] + [t for t in a.thresholds if per_class or t != default_thr]
    print(f"model: {ckpt}; scenes {a.size} px; level auto, whole_up_to {'own' if a.whole_up_to is None else f'{a.whole_up_to:g}'}, "
          f"recheck_from {a.recheck_from}; IoU 0.5\n")
    print(f"| {'scenes':<30} | {'n':>6} | {'objects':>7} | {'min_score':>10} | {'P':>5} | {'R':>5} | {'F1':>5} "
          f"| {'tp':>3} | {'fp':>3} |")
    print(f"|{'-' * 32}|{'-' * 8}|{'-' * 9}|{'-' * 12}|{'-' * 7}|{'-' * 7}|{'-' * 7}|{'-' * 5}|{'-' * 5}|")
    with tempfile.TemporaryDirectory() as tmp:
        for source in a.sources:
            seeds = [SAMPLE_SEEDS[source]] + [UNSEEN_SEEDS_FROM + k for k in range(a.scenes)]
            paths = [egx.datasets.sample_scene(source, Path(tmp) / f"{source}_{s}.tif", seed=s, size=a.size)
                     for s in seeds]
            for thr in thresholds:
                label = own if thr is None else f"{thr:g}"
                bundled = ground_scene(paths[0], thr, a.whole_up_to, a.recheck_from)
                pooled = dict(bundled)
                for path in paths[1:]:
                    for k, v in ground_scene(path, thr, a.whole_up_to, a.recheck_from).items():
                        pooled[k] += v
                print(_row(f"{source}, bundled (seed {seeds[0]})", 1, label, bundled))
                print(_row(f"{source}, bundled + held out", len(paths), label, pooled))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
