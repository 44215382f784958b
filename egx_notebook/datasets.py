"""Small procedurally generated sample rasters with known objects, written on demand (offline).

Scenes come from the dataset builder's generator
(:mod:`egx_notebook.model.data.synthetic`), the same one training uses, so the
physics match: optical reflectance (R, G, B), SAR linear intensity (VV, VH),
infrared brightness temperature (K). Each GeoTIFF gets a UTM CRS, band names and
an ``egx_source`` tag; the known objects go to a GeoJSON sidecar
(``<name>.objects.geojson``) in the same CRS.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["sample_scene", "sample_objects", "sample_colocated", "open_colocated", "sample_chip", "sample_dir",
           "BAND_NAMES", "SAMPLE_SEEDS", "UNSEEN_SEEDS_FROM"]

BAND_NAMES = {"optical": ("red", "green", "blue"), "sar": ("VV", "VH"), "infrared": ("thermal",)}
_UNITS = {"optical": "reflectance", "sar": "linear intensity", "infrared": "K"}
#: Upper-left corner of the samples, UTM zone 33N (the Adriatic coast).
ORIGIN = (402_000.0, 4_620_000.0)
CRS = "EPSG:32633"
#: The default seed of each source's sample: scenes with the objects the quickstart asks about
#: (SAR: a coast with ships; infrared: small targets; optical: vehicles, airplanes, storage tanks).
SAMPLE_SEEDS = {"sar": 2, "infrared": 0, "optical": 0}
#: Scenes from this seed up are in no training or validation sample of the dataset builder's
#: default build (``--seed`` 0, every shipped checkpoint's): score a model on these.
UNSEEN_SEEDS_FROM = 50_000_000


def sample_dir() -> Path:
    """Default folder for samples (in the system temp dir)."""
    path = Path(tempfile.gettempdir()) / "egx_samples"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write(path: Path, scene, *, gsd: float, crs: str) -> Path:
    import rasterio
    from rasterio.transform import from_origin

    transform = from_origin(ORIGIN[0], ORIGIN[1], gsd, gsd)
    image = np.asarray(scene.image, dtype=np.float32)
    with rasterio.open(path, "w", driver="GTiff", width=image.shape[2], height=image.shape[1], count=image.shape[0],
                       dtype="float32", crs=crs, transform=transform, tiled=True, blockxsize=256, blockysize=256,
                       compress="deflate") as dst:
        dst.write(image)
        dst.descriptions = BAND_NAMES[scene.source]
        dst.update_tags(egx_source=scene.source, units=_UNITS[scene.source], generator="egx_notebook.model.data.synthetic",
                        seed=str(scene.seed), kind=scene.kind)
    features = []
    for i, obj in enumerate(scene.objects, start=1):
        x0, y0, x1, y1 = obj["box"]
        (ax, ay), (bx, by) = transform * (x0, y0), transform * (x1, y1)
        ring = [[ax, ay], [bx, ay], [bx, by], [ax, by], [ax, ay]]
        features.append({"type": "Feature", "properties": {"object": i, "label": obj["label"]},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    epsg = int(crs.split(":")[1])
    sidecar = {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}},
               "features": features}
    path.with_suffix(".objects.geojson").write_text(json.dumps(sidecar))
    return path


def sample_scene(source: str = "sar", path: str | Path | None = None, *, seed: int | None = None, size: int = 512,
                 crs: str = CRS) -> Path:
    """Write a sample GeoTIFF of one source with known objects and return its path.

    Parameters
    ----------
    source : {"optical", "sar", "infrared"}
    path : path-like, optional
        Where to write; default ``<tmp>/egx_samples/<source>_<seed>_<size>.tif``.
    seed : int, optional
        Same seed, same scene; default :data:`SAMPLE_SEEDS` ``[source]``. The dataset
        builder holds the default seeds out of its synthetic training scenes; other
        small seeds (below about 200) are scenes it trains on, and seeds from
        :data:`UNSEEN_SEEDS_FROM` up are in none of its samples. The bundled checkpoint
        (version 12) was trained after the hold-out; versions up to 8 saw the default
        seeds' objects on a 256-px canvas (see its model card).
    size : int
        Side in pixels.
    crs : str
        A projected CRS for the grid (metres).

    Returns
    -------
    pathlib.Path
        The GeoTIFF; the objects are in ``path.with_suffix(".objects.geojson")``.
    """
    from egx_notebook.errors import SourceError
    from egx_notebook.model.data.synthetic import generate_scene

    if source not in BAND_NAMES:
        raise SourceError(f"unknown source {source!r}; use one of {tuple(BAND_NAMES)}.")
    seed = SAMPLE_SEEDS[source] if seed is None else seed
    path = Path(path) if path is not None else sample_dir() / f"{source}_{seed}_{size}.tif"
    scene = generate_scene(source, seed, size)
    return _write(path, scene, gsd=float(scene.gsd_m or 10.0), crs=crs)


def sample_objects(path: str | Path):
    """The known objects of a sample GeoTIFF (its ``.objects.geojson`` sidecar) as a GeoDataFrame.

    Columns ``object``, ``label`` and the box ``geometry``, in the sample's CRS.
    """
    import geopandas as gpd
    import pandas as pd

    sidecar = Path(path).with_suffix(".objects.geojson")
    if not sidecar.exists():
        from egx_notebook.errors import SourceError

        raise SourceError(f"{sidecar} does not exist; write the sample with egx.datasets.sample_scene(...) first.")
    frame = gpd.read_file(sidecar)
    if frame.empty:  # a scene without objects: keep the documented columns
        frame = gpd.GeoDataFrame({"object": pd.Series(dtype="int64"), "label": pd.Series(dtype="object")},
                                 geometry=gpd.GeoSeries([], crs=frame.crs))
    if frame.crs is None:
        import rasterio

        with rasterio.open(path) as src:
            frame = frame.set_crs(src.crs)
    return frame


def sample_colocated(folder: str | Path | None = None, *, seed: int = 0, size: int = 512, crs: str = CRS) -> dict[str, Path]:
    """Write co-registered optical, SAR and infrared GeoTIFFs of one place (same grid, same objects).

    Returns
    -------
    dict
        source -> path. Open them together with
        ``xr.Dataset({s: egx.open_raster(p) ... })`` or :func:`open_colocated`.
    """
    from egx_notebook.model.data.synthetic import generate_colocated

    folder = Path(folder) if folder is not None else sample_dir()
    folder.mkdir(parents=True, exist_ok=True)
    scenes = generate_colocated(seed, size)
    gsd = float(next((s.gsd_m for s in scenes.values() if s.gsd_m), 10.0))
    return {s: _write(folder / f"colocated_{s}_{seed}_{size}.tif", sc, gsd=gsd, crs=crs) for s, sc in scenes.items()}


def open_colocated(folder: str | Path | None = None, *, seed: int = 0, size: int = 512, chunks=None):
    """The co-registered sample as an ``xarray.Dataset`` with variables optical, sar, infrared.

    Band dims differ per source, so each variable has its own band dim
    (``band_optical``, ...); ``ds.egx[source]`` returns the raster with dim ``band``.
    """
    import xarray as xr

    from egx_notebook.io import open_raster

    paths = sample_colocated(folder, seed=seed, size=size)
    das = {}
    for s, p in paths.items():
        da = open_raster(p, source=s, chunks=chunks)
        das[s] = da.rename(band=f"band_{s}", band_name=f"band_name_{s}")
    ds = xr.Dataset(das)
    return ds.rio.write_crs(das["optical"].rio.crs)


def sample_chip(source: str = "infrared", path: str | Path | None = None, *, seed: int = 0, size: int = 256) -> Path:
    """Write an 8-bit PNG chip with no CRS (pixel space), like the chips of research datasets."""
    from PIL import Image

    from egx_notebook.model.data.synthetic import generate_scene

    path = Path(path) if path is not None else sample_dir() / f"{source}_{seed}_{size}.png"
    image = np.asarray(generate_scene(source, seed, size).image, dtype=np.float64)
    if source == "sar":
        image = 10 * np.log10(np.maximum(image[:1], 1e-6))
    lo, hi = np.nanpercentile(image, [1, 99])
    grey = np.clip((image - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)
    Image.fromarray(grey[0] if grey.shape[0] == 1 else np.moveaxis(grey, 0, -1)).save(path)
    return path
