"""Raster -> display PNG: colouring per source, overview reads, Web Mercator bounds."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from widget_helpers import lonlat_of, make_raster

from egx_notebook.widgets.layers import display_image, read_overview, render_rgba


def test_optical_true_colour_and_nodata_transparent():
    arr = np.random.default_rng(0).random((4, 20, 30)).astype("float32")
    arr[:, 0, 0] = np.nan
    rgba = render_rgba(arr, "optical", bands=[3, 2, 1])
    assert rgba.shape == (20, 30, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[5, 5, 3] == 255
    with pytest.raises(ValueError, match="out of range"):
        render_rgba(arr, "optical", bands=[0, 1, 7])


def test_sar_linear_is_shown_in_db_grey():
    lin = np.full((1, 10, 10), 0.01, dtype="float32")
    lin[0, :, 5:] = 1.0  # 0 dB vs -20 dB
    rgba = render_rgba(lin, "sar")
    assert (rgba[..., 0] == rgba[..., 1]).all() and (rgba[..., 1] == rgba[..., 2]).all()
    assert rgba[0, 9, 0] > rgba[0, 0, 0]


def test_infrared_uses_a_colour_map():
    arr = np.linspace(0, 1, 100, dtype="float32").reshape(1, 10, 10)
    rgba = render_rgba(arr, "infrared", colormap="inferno")
    assert not (rgba[..., 0] == rgba[..., 2]).all()  # not grey


def test_display_bounds_match_the_utm_raster(utm_optical):
    img = display_image(utm_optical)
    (s, w), (n, e) = img.bounds
    lon0, lat0 = lonlat_of(utm_optical, 0, 0)
    lon1, lat1 = lonlat_of(utm_optical, 300, 200)
    assert w == pytest.approx(lon0, abs=2e-4) and n == pytest.approx(lat0, abs=2e-4)
    assert e == pytest.approx(lon1, abs=2e-4) and s == pytest.approx(lat1, abs=2e-4)
    assert img.url.startswith("data:image/png;base64,")
    assert base64.b64decode(img.url.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_pixel_raster_bounds(pixel_chip):
    img = display_image(pixel_chip)
    assert img.bounds == ((-128.0, 0.0), (0.0, 160.0))


def test_overview_read_from_file_is_decimated(tmp_path):
    import rioxarray

    da = make_raster(shape=(1, 1500, 1200), source="sar", seed=3)
    path = tmp_path / "big.tif"
    da.rio.to_raster(path)
    lazy = rioxarray.open_rasterio(path)  # lazy: the display must not load it all
    arr, transform = read_overview(lazy, max_size=256)
    assert max(arr.shape[1:]) <= 256
    # the overview still spans the whole raster
    assert transform @ (arr.shape[2], arr.shape[1]) == pytest.approx(da.rio.transform() @ (1200, 1500))
