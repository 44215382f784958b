"""Source inference and source profiles: which bands of a raster become model input.

Core owns *choice* (which bands, which source tag, where nodata is); the model's
processor owns *value physics* (dB conversion, stretch, normalisation). This
module therefore never rescales values: it picks bands, keeps NaN for nodata and
tells the processor how SAR values are scaled when the metadata says so.

Source inference rules (first rule that decides wins; ``source=`` overrides all):

1. **Metadata tags** (``egx_source``, ``source``, ``sensor``, ``platform``,
   ``mission``, ``instrument``, ``product``): words such as ``sar``, ``radar``,
   ``sentinel-1``, ``s1`` mean ``"sar"``; ``thermal``, ``infrared``, ``lwir``,
   ``tir``, ``flir``, ``ir`` mean ``"infrared"``; ``optical``, ``sentinel-2``,
   ``naip``, ``rgb`` mean ``"optical"``.
2. **Band names** (descriptions / ``long_name``): any ``VV``, ``VH``, ``HH``,
   ``HV`` band means ``"sar"``; a raster whose bands are all thermal
   (``thermal``, ``LWIR``, ``TIR``, ``BT``, ``temperature``, or a *single*
   band ``B10``/``B11`` as in Landsat 8/9) means ``"infrared"``; colour
   names (``red``, ``green``, ``blue``, ``B2``-``B4``, ``nir``) mean ``"optical"``.
3. **Band count**: 3 or more bands means ``"optical"``; 2 bands means ``"sar"``
   (a co-polarised/cross-polarised pair).
4. **Values of a single band** (a small central sample is read): floats between
   150 and 400 (Kelvin) mean ``"infrared"``; floats with negative values (dB)
   or with a heavy positive tail (linear intensity) mean ``"sar"``; any other
   single band (8/16-bit grey) means ``"infrared"``.

The rule that decided is kept in ``attrs["egx_source_reason"]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

from egx_notebook.errors import SourceError

__all__ = ["SOURCES", "infer_source", "band_names", "SourceProfile", "source_profile", "check_dtype"]

SOURCES = ("optical", "sar", "infrared")

_TAG_KEYS = ("egx_source", "source", "sensor", "platform", "mission", "instrument", "product", "spacecraft")
_TAG_WORDS = {
    "sar": ("sar", "radar", "sentinel-1", "sentinel1", "s1", "s1a", "s1b", "radarsat", "terrasar", "iceye", "capella"),
    "infrared": ("infrared", "thermal", "lwir", "mwir", "tir", "flir", "ir"),
    "optical": ("optical", "sentinel-2", "sentinel2", "s2", "naip", "rgb", "msi", "worldview", "planetscope"),
}
_SAR_BANDS = ("VV", "VH", "HH", "HV")
_THERMAL_WORDS = ("thermal", "lwir", "mwir", "tir", "bt", "temperature", "brightness_temperature", "lst")
_RGB_WORDS = {"red": ("red", "r", "b4", "b04"), "green": ("green", "g", "b3", "b03"), "blue": ("blue", "b", "b2", "b02")}
_S2_ORDER = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")


def _norm(name: Any) -> str:
    return re.sub(r"[\s\-]+", "_", str(name).strip().lower())


def _sar_pol(name: str) -> str | None:
    """Return 'VV'/'VH'/'HH'/'HV' if the band name is a polarisation (e.g. 'VV_dB', 'sigma0_vh')."""
    for token in re.split(r"[^a-z0-9]+", name.lower()):
        if token.upper() in _SAR_BANDS:
            return token.upper()
    return None


def check_dtype(dtype: Any) -> None:
    """Raise :class:`SourceError` for dtypes that are not real numbers."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "uif":
        what = {"c": "complex", "b": "boolean", "O": "object", "U": "string", "S": "bytes"}.get(dtype.kind, str(dtype))
        hint = (
            "take the amplitude first (np.abs(da)) or the intensity (np.abs(da) ** 2)"
            if dtype.kind == "c"
            else "cast it to a real number type first (da.astype('float32'))"
        )
        raise SourceError(f"the raster has {what} values (dtype {dtype}); the model reads real numbers: {hint}.")


def band_names(da: xr.DataArray) -> list[str]:
    """Names of the bands of ``da``: the ``band_name`` coordinate, ``long_name`` attrs, or ``band_<i>``."""
    n = da.sizes.get("band", 1)
    if "band_name" in da.coords:
        return [str(v) for v in np.atleast_1d(da.coords["band_name"].values)]
    long_name = da.attrs.get("long_name")
    if isinstance(long_name, (list, tuple)) and len(long_name) == n and all(long_name):
        return [str(v) for v in long_name]
    if isinstance(long_name, str) and n == 1 and long_name:
        return [long_name]
    if "band" in da.coords and da.coords["band"].dtype.kind in "US":
        return [str(v) for v in np.atleast_1d(da.coords["band"].values)]
    return [f"band_{i + 1}" for i in range(n)]


def _from_tags(attrs: dict) -> tuple[str, str] | None:
    for key in _TAG_KEYS:
        for akey, value in attrs.items():
            if _norm(akey) != key or not isinstance(value, str):
                continue
            words = set(re.split(r"[^a-z0-9\-]+", value.lower()))
            for source, vocab in _TAG_WORDS.items():
                if words & set(vocab):
                    return source, f"metadata tag {akey}={value!r}"
    return None


def _from_band_names(names: Sequence[str]) -> tuple[str, str] | None:
    if any(_sar_pol(n) for n in names):
        return "sar", f"SAR polarisation band names {list(names)}"
    normed = [_norm(n) for n in names]
    if normed and all(any(w in re.split(r"[^a-z0-9]+", n) for w in _THERMAL_WORDS) for n in normed):
        return "infrared", f"thermal band names {list(names)}"
    if len(normed) == 1 and normed[0] in ("b10", "b11"):
        return "infrared", f"single thermal band {names[0]!r} (Landsat 8/9 TIRS)"
    colours = {w for words in _RGB_WORDS.values() for w in words if len(w) > 1} | {"nir", "b8"}
    if any(n in colours for n in normed):
        return "optical", f"colour band names {list(names)}"
    return None


def _centre_sample(da: xr.DataArray, size: int = 256) -> np.ndarray:
    """Read a small central window (never the whole raster) for value-range rules."""
    ny, nx = da.sizes["y"], da.sizes["x"]
    y0, x0 = max(0, ny // 2 - size // 2), max(0, nx // 2 - size // 2)
    sample = da.isel(y=slice(y0, y0 + size), x=slice(x0, x0 + size))
    return np.asarray(sample.values, dtype=np.float64)


def _stored_dtype(da: xr.DataArray) -> np.dtype:
    """The dtype on disk (masked reads turn integers into floats)."""
    return np.dtype(da.encoding.get("dtype", da.dtype))


def _from_values(da: xr.DataArray) -> tuple[str, str]:
    dtype = _stored_dtype(da)
    if dtype.kind != "f":
        return "infrared", f"a single {dtype} band (grey chip); pass source='sar' or 'optical' if that is wrong"
    values = _centre_sample(da)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "infrared", "a single float band with no valid sample; pass source= to be sure"
    lo, hi = np.percentile(values, [1, 99])
    if 150.0 <= lo and hi <= 400.0:
        return "infrared", f"a single float band in {lo:.0f}..{hi:.0f}, which reads as Kelvin"
    if lo < 0:
        return "sar", f"a single float band with negative values ({lo:.1f}..{hi:.1f}), which reads as dB"
    median = float(np.median(values))
    if median > 0 and hi / median > 5.0:
        return "sar", "a single float band with a heavy bright tail, which reads as linear SAR intensity"
    return "infrared", f"a single float band in {lo:.3g}..{hi:.3g}; pass source= if it is not infrared"


def infer_source(da: xr.DataArray, tags: dict | None = None) -> tuple[str, str]:
    """Infer the source tag of a raster.

    Parameters
    ----------
    da : xarray.DataArray
        Raster with dims (band, y, x) or (y, x).
    tags : dict, optional
        Extra metadata tags (e.g. from the GeoTIFF) to consult with ``da.attrs``.

    Returns
    -------
    (source, reason) : tuple of str
        ``source`` is one of ``"optical"``, ``"sar"``, ``"infrared"``; ``reason``
        says which rule (see the module docstring) decided.
    """
    attrs = dict(tags or {})
    attrs.update({k: v for k, v in da.attrs.items() if isinstance(v, str)})
    for rule in (lambda: _from_tags(attrs), lambda: _from_band_names(band_names(da))):
        found = rule()
        if found:
            return found
    n = da.sizes.get("band", 1)
    if n >= 3:
        return "optical", f"{n} bands"
    if n == 2:
        return "sar", "2 bands (a polarisation pair)"
    single = da.isel(band=0) if "band" in da.dims else da
    return _from_values(single)


def _sar_scale(da: xr.DataArray, names: Sequence[str]) -> str | None:
    """'db', 'linear' or 'display' when metadata or dtype says so, else None (processor decides)."""
    text = " ".join([*names, str(da.attrs.get("units", "")), str(da.attrs.get("egx_sar_scale", ""))]).lower()
    if str(da.attrs.get("egx_sar_scale", "")).lower() in ("db", "linear", "display"):
        return str(da.attrs["egx_sar_scale"]).lower()
    if re.search(r"(^|[^a-z])(db|decibels?)([^a-z]|$)", text):
        return "db"
    if re.search(r"(linear|intensity|amplitude|sigma0)", text) and "db" not in text:
        return "linear"
    dtype = _stored_dtype(da)
    if dtype.kind == "u" and dtype.itemsize == 1:
        return "display"
    if dtype.kind == "f":
        sample = _centre_sample(da.isel(band=0) if "band" in da.dims else da, 64)
        if np.nanmin(sample, initial=np.inf) < 0:
            return "db"  # linear intensity is never negative
    return None


@dataclass(frozen=True)
class SourceProfile:
    """How one raster becomes model input.

    Attributes
    ----------
    source : str
        ``"optical"``, ``"sar"`` or ``"infrared"``.
    band_index : tuple of int
        Positions along ``band`` handed to the model, in order.
    band_names : tuple of str
        Their names.
    repeat_to : int
        Channels the model expects; a single grey optical band is repeated to 3.
    sar_scale : str or None
        ``"db"``, ``"linear"``, ``"display"`` or None (the processor decides).
    """

    source: str
    band_index: tuple[int, ...]
    band_names: tuple[str, ...]
    repeat_to: int
    sar_scale: str | None


def _pick_optical(names: list[str]) -> list[int]:
    normed = [_norm(n) for n in names]
    picked = []
    for colour in ("red", "green", "blue"):
        hits = [i for i, n in enumerate(normed) if n in _RGB_WORDS[colour]]
        if not hits:
            break
        picked.append(hits[0])
    if len(picked) == 3:
        return picked
    if len(names) >= 10 and [n.upper() for n in names[: len(_S2_ORDER)]] == list(_S2_ORDER[: len(names)]):
        return [3, 2, 1]  # Sentinel-2 B4, B3, B2
    return list(range(min(3, len(names))))


def source_profile(da: xr.DataArray) -> SourceProfile:
    """The :class:`SourceProfile` of a raster opened by :func:`egx_notebook.open_raster` (or any DataArray).

    Bands chosen with ``da.egx.set_bands`` (``attrs["egx_bands"]``) win; otherwise
    optical takes R, G, B by name, Sentinel-2 B4/B3/B2, or the first three bands;
    SAR takes VV/VH (or HH/HV) by name, else up to two bands (one when there are
    three or more unnamed bands, i.e. grey stored as RGB); infrared takes the
    thermal band by name, else the first band.
    """
    check_dtype(da.dtype)
    if any(da.sizes.get(d, 1) == 0 for d in ("y", "x", "band")):
        raise SourceError(f"the raster is empty (sizes {dict(da.sizes)}); open a raster with at least one pixel.")
    source = da.attrs.get("egx_source")
    if source is None:
        source, _ = infer_source(da)
    if source not in SOURCES:
        raise SourceError(f"unknown source {source!r}; use one of {SOURCES} (da.egx.set_source(...)).")
    names = band_names(da)
    chosen = da.attrs.get("egx_bands")
    if chosen is not None:
        index = [_band_position(names, b) for b in np.atleast_1d(chosen).tolist()]
    elif source == "optical":
        index = _pick_optical(names)
    elif source == "sar":
        pols = [i for i, n in enumerate(names) if _sar_pol(n)]
        order = sorted(pols, key=lambda i: _SAR_BANDS.index(_sar_pol(names[i])))
        index = order[:2] if order else (list(range(len(names))) if len(names) <= 2 else [0])
    else:
        thermal = [i for i, n in enumerate(names) if _from_band_names([n]) and _from_band_names([n])[0] == "infrared"]
        index = thermal[:1] or [0]
    limits = {"optical": (1, 3), "sar": (1, 2), "infrared": (1, 1)}[source]
    if not limits[0] <= len(index) <= limits[1]:
        raise SourceError(
            f"{source} input takes {limits[0]}..{limits[1]} bands, got {len(index)} ({[names[i] for i in index]}); "
            "choose bands with da.egx.set_bands([...])."
        )
    if source == "optical" and len(index) == 2:
        raise SourceError("optical input needs 3 bands (or 1 grey band); choose three with da.egx.set_bands([...]).")
    repeat_to = 3 if source == "optical" else len(index)
    sar_scale = _sar_scale(da, [names[i] for i in index]) if source == "sar" else None
    return SourceProfile(source, tuple(index), tuple(names[i] for i in index), repeat_to, sar_scale)


def _band_position(names: list[str], band: Any) -> int:
    if isinstance(band, str):
        lowered = [n.lower() for n in names]
        if band.lower() in lowered:
            return lowered.index(band.lower())
        raise SourceError(f"no band named {band!r}; the bands are {names}.")
    if isinstance(band, (int, np.integer)) and 1 <= int(band) <= len(names):
        return int(band) - 1  # 1-based like GDAL / rioxarray band numbers
    raise SourceError(f"band {band!r} is not a name or a 1-based band number of {names}.")
