"""Latency of ``da.egx.ground()`` on a chip: one look against the second look, printed as a table.

Grounds the bundled sample scenes (generated, with known objects) through the public
API, with the encoded-view cache cleared before each call so every look is paid for,
with ``recheck_from=None`` (one look) and with the default second look over doubtful
detections. Prints the median wall time, the looks (views) each call took and the
detections kept.

    python benchmarks/bench_ground.py [--checkpoint DIR] [--repeats 5] [--size 512 640]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="checkpoint folder; default: the bundled model")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--size", type=int, nargs="+", default=[512, 640], help="scene sides in pixels")
    p.add_argument("--sources", nargs="+", default=["sar", "infrared"])
    a = p.parse_args(argv)

    import egx_notebook as egx

    engine = egx.use(None if a.checkpoint is None else str(a.checkpoint), device="cpu")
    label = {"sar": "ship", "infrared": "small target", "optical": "vehicle"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source in a.sources:
            for size in a.size:
                da = egx.open_raster(egx.datasets.sample_scene(source, Path(tmp) / f"{source}_{size}.tif", size=size))
                for name, recheck in (("one look", None), ("second look", 0.2)):
                    times, answer = [], None
                    for _ in range(a.repeats + 1):  # the first call warms up
                        engine.clear_cache()
                        t0 = time.perf_counter()
                        answer = da.egx.ground(label[source], recheck_from=recheck)
                        times.append((time.perf_counter() - t0) * 1000)
                    rows.append((f"{source} {size} px", name, statistics.median(times[1:]), len(answer.views),
                                 len(answer.detections)))
    print("\n| scene | ground | median ms | looks | detections |")
    print("|---|---|---|---|---|")
    for scene, name, ms, looks, n in rows:
        print(f"| {scene} | {name} | {ms:.0f} | {looks} | {n} |")


if __name__ == "__main__":
    main()
