"""The quickstart: ask the model about the bundled sample scenes and write georeferenced answers.

Run it with ``python -m egx_notebook.quickstart`` (``bash scripts/quickstart.sh`` sets up
``.venv`` first). It

1. writes the three sample scenes (:mod:`egx_notebook.datasets`: SAR, infrared and
   optical GeoTIFFs in UTM with known objects) to ``<out>/samples``;
2. loads the model with :func:`egx_notebook.use` (the bundled default checkpoint,
   or ``--checkpoint PATH``);
3. on the SAR scene grounds ships (``da.egx.ground("ship")``); on the infrared
   scene segments a target from a point on a known target; on the optical scene
   asks what is in a box around a known object and captions the scene;
4. prints each answer's text and number of regions (and, for the ships, how many of
   the scene's known ships they match, :func:`egx_notebook.score_regions`), and writes each answer's
   regions (GeoPackage) and masks (GeoTIFF on the scene's grid) to ``--out``.

Exit status 0 on success, 2 when the model or the input is unusable (the message
says what to do, e.g. pass ``--checkpoint`` while no default checkpoint is bundled).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

__all__ = ["main", "run_quickstart", "DEFAULT_OUT"]

DEFAULT_OUT = Path("egx-quickstart-out")


def _save(ans: Any, out: Path, name: str) -> list[Path]:
    """Write an answer's regions (.gpkg) and masks (.tif) when it has them."""
    written = []
    if len(ans.regions):
        written.append(ans.to_file(out / f"{name}.gpkg"))
    if ans.mask is not None:
        written.append(ans.save_mask(out / f"{name}-mask.tif"))
    return written


def run_quickstart(
    checkpoint: str | Path | None = None,
    out: str | Path = DEFAULT_OUT,
    *,
    size: int = 512,
    device: str = "auto",
    echo: Any = print,
) -> dict[str, Any]:
    """Run the quickstart job and return its answers by name.

    Parameters
    ----------
    checkpoint : path-like, optional
        A checkpoint folder written by ``save_pretrained``; None uses the
        bundled default checkpoint.
    out : path-like
        Folder for the samples and the answers' files (created).
    size : int
        Side of the sample scenes in pixels.
    device : str
        "auto", "cpu" or "cuda".
    echo : callable
        Where progress lines go (``print`` by default).

    Returns
    -------
    dict
        ``{"ships": Answer, "target": Answer, "region": Answer, "caption": Answer,
        "files": [Path, ...]}``.

    Raises
    ------
    ModelError
        No default checkpoint bundled (and none given), or an unusable checkpoint.
    """
    import egx_notebook as egx
    from egx_notebook.datasets import sample_objects, sample_scene
    from egx_notebook.scoring import score_regions

    out = Path(out)
    samples = out / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    engine = egx.use(None if checkpoint is None else Path(checkpoint), device=device)
    paths = {s: sample_scene(s, samples / f"{s}.tif", size=size) for s in ("sar", "infrared", "optical")}
    echo(f"samples: {', '.join(str(p) for p in paths.values())}")

    answers: dict[str, Any] = {}
    files: list[Path] = []

    sar = egx.open_raster(paths["sar"])
    answers["ships"] = sar.egx.ground("ship")
    known_ships = sample_objects(paths["sar"])
    sc = answers["ships_score"] = score_regions(answers["ships"], known_ships[known_ships["label"] == "ship"])
    checks = {"ships": f"\n  checked: {sc['tp']} of the {sc['tp'] + sc['fn']} known ships found (IoU 0.5); "
                       f"{sc['fp']} other region{'' if sc['fp'] == 1 else 's'}"}
    engine.load()  # loaded by now; report what answered
    echo(f"model: {engine.spec if engine.spec is not None else 'default checkpoint'} on {engine._device}")

    ir = egx.open_raster(paths["infrared"])
    targets = sample_objects(paths["infrared"])
    x, y = targets.geometry.iloc[0].centroid.coords[0]
    answers["target"] = ir.egx.segment(point=(x, y))

    optical = egx.open_raster(paths["optical"])
    objects = sample_objects(paths["optical"])
    answers["region"] = optical.egx.refer(box=tuple(objects.geometry.iloc[0].buffer(20).bounds))
    answers["caption"] = optical.egx.caption()

    jobs = [
        ("ships", "SAR: ground('ship')"),
        ("target", f"infrared: segment(point=({x:.1f}, {y:.1f}))  [a known {targets.label.iloc[0]}]"),
        ("region", f"optical: refer(box=...)  [around a known {objects.label.iloc[0]}]"),
        ("caption", "optical: caption()"),
    ]
    for name, what in jobs:
        ans = answers[name]
        saved = _save(ans, out, name)
        files += saved
        echo(f"\n{what}\n  text:    {ans.text!r}\n  regions: {len(ans.regions)}{checks.get(name, '')}"
             + "".join(f"\n  wrote:   {p}" for p in saved))
    answers["files"] = files
    return answers


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point (``python -m egx_notebook.quickstart --help``)."""
    parser = argparse.ArgumentParser(prog="python -m egx_notebook.quickstart", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint folder (save_pretrained, safetensors); default: the bundled model")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default ./{DEFAULT_OUT})")
    parser.add_argument("--size", type=int, default=512, help="side of the sample scenes in pixels (default 512)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    args = parser.parse_args(argv)

    from egx_notebook.errors import EgxError, ModelError

    try:
        run_quickstart(args.checkpoint, args.out, size=args.size, device=args.device)
    except EgxError as exc:
        hint = " On the command line: --checkpoint PATH." if isinstance(exc, ModelError) and args.checkpoint is None else ""
        print(f"egx quickstart: {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        return 2
    print(f"\ndone: outputs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
