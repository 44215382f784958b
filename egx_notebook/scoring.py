"""Score answers against your own labels: match found regions to true ones by IoU.

The matching is the one detection benchmarks use (and ``python -m
egx_notebook.model.evaluate`` reports): found regions in descending score take, one
each, the unmatched true region they overlap most, if that overlap reaches the IoU
threshold. A matched found region is a true positive, an unmatched one a false
positive, and every true region left over a false negative.

Examples
--------
>>> ships = da.egx.ground("ship")                         # doctest: +SKIP
>>> truth = geopandas.read_file("my_ships.gpkg")          # doctest: +SKIP
>>> egx.score_regions(ships, truth)                       # doctest: +SKIP
{'precision': 0.8, 'recall': 0.67, 'f1': 0.73, 'tp': 4, 'fp': 1, 'fn': 2}
>>> egx.match_regions(ships, truth)[["label", "score", "truth", "iou"]]  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from egx_notebook.errors import CRSError, LabelError

__all__ = ["match_regions", "score_regions"]

_BY = ("box", "geometry")


def _frame(obj: Any, what: str, crs: Any = None):
    """``obj`` (Answer, GeoDataFrame, GeoSeries or a sequence of shapely geometries) as a GeoDataFrame."""
    import geopandas as gpd
    import shapely

    if hasattr(obj, "regions") and hasattr(obj, "detections"):  # an Answer
        obj = obj.regions
    if isinstance(obj, gpd.GeoSeries):
        obj = gpd.GeoDataFrame(geometry=obj)
    if not isinstance(obj, gpd.GeoDataFrame):
        items = list(obj) if isinstance(obj, (list, tuple)) else None
        if items is None or not all(isinstance(g, shapely.Geometry) for g in items):
            raise LabelError(f"{what} must be an Answer, a GeoDataFrame, a GeoSeries or a list of shapely "
                             f"geometries, not {type(obj).__name__}.")
        obj = gpd.GeoDataFrame(geometry=gpd.GeoSeries(items), crs=crs)
    geoms = obj.geometry.values
    bad = [i for i, g in zip(obj.index, geoms) if g is None or g.is_empty or not g.is_valid or g.area <= 0]
    if bad:
        raise LabelError(f"{what} rows {bad[:5]}{' ...' if len(bad) > 5 else ''} have a missing, empty, invalid or "
                         "zero-area geometry; drop them or repair them (e.g. shapely.make_valid) before scoring "
                         "(points or lines: buffer them to the objects' size, e.g. truth.buffer(5)).")
    return obj


def _aligned(found: Any, truth: Any):
    found = _frame(found, "found")
    truth = _frame(truth, "truth", crs=found.crs)
    if found.crs is None and truth.crs is None:
        return found, truth
    if found.crs is None or truth.crs is None:
        which, other = ("found", "truth") if found.crs is None else ("truth", "found")
        raise CRSError(f"{which} has no CRS but {other} has one; set it with .set_crs(...) "
                       "(pixel-space chips: give both in pixel coordinates, without a CRS).")
    if truth.crs != found.crs:
        truth = truth.to_crs(found.crs)
    return found, truth


def _iou_pairs(a, b, by: str) -> dict[tuple[int, int], float]:
    """IoU of every overlapping pair (i of a, j of b)."""
    import shapely

    if by == "box":
        a, b = shapely.box(*shapely.bounds(a).T), shapely.box(*shapely.bounds(b).T)
    if len(a) == 0 or len(b) == 0:
        return {}
    i, j = shapely.STRtree(b).query(a, predicate="intersects")
    inter = shapely.area(shapely.intersection(a[i], b[j]))
    union = shapely.area(a[i]) + shapely.area(b[j]) - inter
    return {(int(p), int(q)): float(x / u) for p, q, x, u in zip(i, j, inter, union) if u > 0}


def match_regions(found: Any, truth: Any, *, iou: float = 0.5, by: str = "box"):
    """Each found region with the true region it matches.

    Parameters
    ----------
    found : Answer, GeoDataFrame, GeoSeries or list of shapely geometries
        What the model found, e.g. ``da.egx.ground("ship")``; a ``score`` column
        orders the matching (highest first), else the rows' order does.
    truth : GeoDataFrame, GeoSeries or list of shapely geometries
        The reference regions. Reprojected to ``found``'s CRS when both have one; a
        plain list is taken to be in ``found``'s CRS.
    iou : float
        Smallest intersection over union that counts as a match, in (0, 1].
    by : {"box", "geometry"}
        Compare bounding boxes (as detection F1 does) or the geometries themselves
        (mask outlines).

    Returns
    -------
    geopandas.GeoDataFrame
        ``found``'s rows (in its CRS) with ``truth`` (the index label of the matched
        true region, or None), ``iou`` (its IoU, 0.0 without a match) and ``match``.

    Raises
    ------
    LabelError
        Unusable input: not geometries, or missing, empty, invalid or zero-area ones;
        ``iou`` outside (0, 1]; ``by`` not "box" or "geometry".
    CRSError
        One side has a CRS and the other has none.
    """
    return _match(found, truth, iou, by)[0]


def _match(found: Any, truth: Any, iou: float, by: str):
    import pandas as pd

    from egx_notebook.model.metrics import greedy_match  # numpy only, no torch

    if not (isinstance(iou, (int, float)) and 0 < iou <= 1):
        raise LabelError(f"iou must be a number in (0, 1], not {iou!r}; 0.5 is the usual detection threshold.")
    if by not in _BY:
        raise LabelError(f"by must be one of {_BY}, not {by!r}.")
    found, truth = _aligned(found, truth)
    pair_iou = np.zeros((len(found), len(truth)))
    for (i, j), v in _iou_pairs(found.geometry.values, truth.geometry.values, by).items():
        pair_iou[i, j] = v
    scores = found["score"].to_numpy(dtype=float) if "score" in found.columns else None
    assigned = greedy_match(pair_iou, scores, iou)
    out = found.copy()
    # index labels as given, None without a match; match is bool even when empty, so frames concat
    out["truth"] = pd.Series([truth.index[j] if j >= 0 else None for j in assigned], index=out.index, dtype=object)
    out["iou"] = np.array([pair_iou[i, j] if j >= 0 else 0.0 for i, j in enumerate(assigned)], dtype=float)
    out["match"] = assigned >= 0
    return out, len(truth)


def score_regions(found: Any, truth: Any, *, iou: float = 0.5, by: str = "box") -> dict:
    """Precision, recall and F1 of ``found`` against ``truth`` at an IoU threshold.

    Parameters are those of :func:`match_regions`. Returns a dict with ``precision``,
    ``recall``, ``f1`` (NaN where undefined: precision without found regions, recall
    without true regions, F1 without either) and the counts ``tp``, ``fp``, ``fn``.
    """
    matched, n_truth = _match(found, truth, iou, by)
    tp = int(matched["match"].sum())
    return rates(tp, len(matched) - tp, n_truth - tp)


def rates(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall and F1 of match counts, as :func:`score_regions` gives them.

    NaN where undefined (precision without found regions, recall without true
    regions, F1 without either); the counts come back as ``tp``, ``fp``, ``fn``.
    Use it to pool several :func:`score_regions` results by summing their counts.
    """
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else math.nan
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
