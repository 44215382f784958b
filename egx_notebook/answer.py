"""Answer: the model's reply on the raster's own grid (text, masks, regions, prompts)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import xarray as xr

from egx_notebook.errors import EgxError
from egx_notebook.grid import Grid
from egx_notebook.views import View, masks_on_grid

__all__ = ["Answer", "Detection"]


@dataclass
class Detection:
    """One answered object in raster pixels: an optional box and optional mask pieces."""

    label: str | None
    score: float | None
    box_px: np.ndarray | None  # (4,) x0, y0, x1, y1 in raster pixels
    pieces: list[tuple[View, np.ndarray]] = field(default_factory=list)  # (view, bool mask on the view grid)
    prompt_id: int | None = None


class Answer:
    """The model's answer to one question, georeferenced on the raster's grid.

    Attributes
    ----------
    text : str
        The model's reply (boxes written as ``<box>[...]</box>`` in view terms).
    task, question, source : str
        What was asked of which source.
    views : list of View
        The window(s) and zoom level(s) the model looked at (provenance).
    boxes : numpy.ndarray (N, 4)
        Object boxes in the raster's CRS (xmin, ymin, xmax, ymax); NaN rows for
        objects that have only a mask.
    scores : numpy.ndarray (N,)
    labels : list of str
    detections : list of Detection
        The same objects in raster pixels, with the view pieces their masks come from.
    raw : list of dict
        The processor's result for each view in ``views``, in view pixels: ``text``,
        ``boxes``, ``scores``, ``labels``, ``masks`` (mask probabilities) and
        ``mask_boxes``. For a point prompt answered with a second, closer look,
        ``raw[0]`` already holds the mean of the two looks' mask probabilities
        where both see them (the map the answer's mask is cut from) and
        ``raw[1]`` is the closer look's own result.
    """

    def __init__(
        self,
        *,
        text: str,
        task: str,
        question: str | None,
        source: str,
        raster: xr.DataArray,
        grid: Grid,
        views: Sequence[View],
        detections: Sequence[Detection],
        prompts: Sequence[Any],
        raw: Sequence[dict] = (),
    ) -> None:
        self.text = text
        self.task = task
        self.question = question
        self.source = source
        self.views = list(views)
        self.detections = list(detections)
        self.raw = list(raw)
        self._raster = raster
        self._grid = grid
        self._prompts = list(prompts)

    # -- raw arrays ------------------------------------------------------------------
    @property
    def crs(self) -> Any:
        """The raster's CRS (None for pixel-space rasters)."""
        return self._grid.crs

    @property
    def view(self) -> View:
        """The (first) view the model looked at."""
        return self.views[0]

    @property
    def boxes(self) -> np.ndarray:
        rows = []
        for d in self.detections:
            if d.box_px is None:
                rows.append([np.nan] * 4)
                continue
            x0, y0, x1, y1 = d.box_px
            w = self._grid.to_world(np.array([[x0, y0], [x1, y1]], dtype=float))
            rows.append([w[:, 0].min(), w[:, 1].min(), w[:, 0].max(), w[:, 1].max()])
        return np.asarray(rows, dtype=float).reshape(-1, 4)

    @property
    def scores(self) -> np.ndarray:
        return np.array([np.nan if d.score is None else d.score for d in self.detections], dtype=float)

    @property
    def labels(self) -> list[str | None]:
        return [d.label for d in self.detections]

    # -- georeferenced outputs ----------------------------------------------------------
    @cached_property
    def mask(self) -> xr.DataArray | None:
        """Boolean masks (object, y, x) on exactly the raster's y/x coords, CRS and transform.

        Dask-backed and lazy when the raster is. None when the answer has no mask.
        """
        with_masks = [d for d in self.detections if d.pieces]
        if not with_masks:
            return None
        mask = masks_on_grid(self._raster, self._grid, [d.pieces for d in with_masks])
        mask = mask.assign_coords(
            label=("object", [d.label or "" for d in with_masks]),
            score=("object", [np.nan if d.score is None else d.score for d in with_masks]),
        )
        mask.attrs["long_name"] = "egx answer mask"
        return mask

    @cached_property
    def regions(self) -> Any:
        """GeoDataFrame of the answered objects (mask polygons, else boxes); crs = the raster's."""
        import geopandas as gpd
        import shapely

        rows = []
        for i, d in enumerate(self.detections, start=1):
            geom = _mask_geometry(d.pieces, self._grid) if d.pieces else None
            if geom is None and d.box_px is not None:
                geom = shapely.transform(shapely.box(*d.box_px), self._grid.to_world)
            if geom is None:
                continue
            rows.append(
                {"object": i, "label": d.label, "score": d.score, "prompt_id": d.prompt_id, "has_mask": bool(d.pieces), "geometry": geom}
            )
        columns = ["object", "label", "score", "prompt_id", "has_mask", "geometry"]
        frame = gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=self.crs)
        return frame.astype({"object": "int64", "score": "float64"}) if len(frame) else frame

    @cached_property
    def prompts(self) -> Any:
        """GeoDataFrame of the visual prompts, in the raster's CRS (prompt_id = region number)."""
        import geopandas as gpd

        rows = [{"prompt_id": i, "kind": p.kind, "geometry": p.world} for i, p in enumerate(self._prompts, start=1)]
        return gpd.GeoDataFrame(rows, columns=["prompt_id", "kind", "geometry"], geometry="geometry", crs=self.crs)

    # -- export -----------------------------------------------------------------------
    def to_dataset(self) -> xr.Dataset:
        """The answer as an ``xarray.Dataset``: variable ``mask`` (if any) and the text in attrs."""
        data = {"mask": self.mask} if self.mask is not None else {}
        ds = xr.Dataset(data)
        ds.attrs.update(
            {"text": self.text, "task": self.task, "question": self.question or "", "source": self.source,
             "views": repr([v.window + (v.factor,) for v in self.views])}
        )
        return ds

    def to_file(self, path: str | Path, *, driver: str | None = None) -> Path:
        """Write the regions (and, in a GeoPackage, the prompts as a second layer).

        The driver follows the suffix: ``.gpkg`` GeoPackage, ``.geojson``/``.json`` GeoJSON.
        """
        path = Path(path)
        drivers = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile"}
        driver = driver or drivers.get(path.suffix.lower())
        if driver is None:
            raise EgxError(f"cannot tell the format of {path.name!r}; use a .gpkg or .geojson suffix, or driver=.")
        regions = self.regions
        if len(regions) == 0:
            raise EgxError("this answer has no regions to write (no boxes or masks); check ans.text instead.")
        out = regions.drop(columns=["has_mask"]).assign(text=self.text, task=self.task)
        if driver == "GPKG":
            out.to_file(path, layer="regions", driver=driver)
            if len(self.prompts):
                self.prompts.to_file(path, layer="prompts", driver=driver)
        else:
            out.to_file(path, driver=driver)
        return path

    def save_mask(self, path: str | Path) -> Path:
        """Write the masks as a uint8 GeoTIFF (one band per object; a COG when GDAL has the driver)."""
        import rasterio

        if self.mask is None:
            raise EgxError("this answer has no mask to save; ask ground() or segment() for masks.")
        path = Path(path)
        band = self.mask.astype("uint8").rename(object="band").drop_vars(["label", "score"])
        band = band.assign_coords(band=np.arange(1, band.sizes["band"] + 1))
        band.attrs = {"long_name": tuple(str(v) for v in self.mask.label.values)}
        driver = "COG" if "COG" in rasterio.drivers.raster_driver_extensions().values() else "GTiff"
        kwargs = {"compress": "deflate"} if driver == "COG" else {"compress": "deflate", "tiled": True}
        # the stored transform is the raster's exact one (recomputing it from coords adds float error)
        band.rio.to_raster(path, driver=driver, recalc_transform=False, **kwargs)
        return path

    # -- display ---------------------------------------------------------------------
    def __repr__(self) -> str:
        n_masks = sum(1 for d in self.detections if d.pieces)
        return (
            f"<Answer {self.task} on {self.source}: {self.text!r}; {len(self.detections)} objects, "
            f"{n_masks} masks, {len(self._prompts)} prompts>"
        )

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{i}</td><td>{html.escape(str(d.label or ''))}</td>"
            f"<td>{'' if d.score is None else f'{d.score:.2f}'}</td><td>{'mask' if d.pieces else 'box'}</td></tr>"
            for i, d in enumerate(self.detections[:10], start=1)
        )
        more = f"<div>… {len(self.detections) - 10} more</div>" if len(self.detections) > 10 else ""
        table = f"<table><tr><th>#</th><th>label</th><th>score</th><th>shape</th></tr>{rows}</table>{more}" if rows else ""
        views = ", ".join(f"{v.level} {v.window} x1/{v.factor}" for v in self.views[:3])
        return (
            f"<div class='egx-answer'><b>{html.escape(self.task)}</b> · {html.escape(self.source)} · "
            f"{len(self._prompts)} prompt(s) · view {html.escape(views)}"
            f"<p>{html.escape(self.text)}</p>{table}</div>"
        )


def _mask_geometry(pieces: Sequence[tuple[View, np.ndarray]], grid: Grid) -> Any:
    """Polygons of view-grid masks, in the raster's CRS (exact on the view grid)."""
    import shapely
    from rasterio.features import shapes

    polys = []
    for view, vmask in pieces:
        if not vmask.any():
            continue
        transform = view.transform(grid)
        for geom, value in shapes(vmask.astype(np.uint8), mask=vmask, transform=transform):
            if value:
                polys.append(shapely.geometry.shape(geom))
    if not polys:
        return None
    return shapely.union_all(polys)
