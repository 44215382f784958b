"""Raster -> display PNG: colouring per source, overview reads, Web Mercator bounds."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from affine import Affine
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


def test_window_read_matches_the_array_and_its_transform():
    from egx_notebook.widgets.layers import read_window

    da = make_raster(shape=(3, 200, 300))
    arr, transform, step = read_window(da, (40, 90, 100, 220), max_size=64)
    assert step == 2 and arr.shape == (3, 25, 60)
    np.testing.assert_array_equal(arr, da.values[:, 40:90:2, 100:220:2])
    assert transform @ (0, 0) == da.rio.transform() @ (100, 40)
    assert transform.a == 2 * da.rio.transform().a
    with pytest.raises(ValueError, match="not inside"):
        read_window(da, (190, 210, 0, 10))


def test_window_for_bounds_inverts_the_map_bounds():
    from egx_notebook.widgets.layers import window_for_bounds

    da = make_raster(shape=(3, 200, 300))
    lon0, lat0 = lonlat_of(da, 100, 150)  # SW corner: col 100, row 150
    lon1, lat1 = lonlat_of(da, 160, 90)   # NE corner: col 160, row 90
    r0, r1, c0, c1 = window_for_bounds(da, ((lat0, lon0), (lat1, lon1)), pad=0.0)
    assert abs(r0 - 90) <= 1 and abs(r1 - 150) <= 1 and abs(c0 - 100) <= 1 and abs(c1 - 160) <= 1
    far = lonlat_of(da, 5000, 5000)
    assert window_for_bounds(da, ((far[1] - 0.01, far[0]), (far[1], far[0] + 0.01))) is None
    chip = make_raster(shape=(1, 128, 160), source="infrared", crs=None, transform=Affine.identity())
    assert window_for_bounds(chip, ((-60.0, 20.0), (-30.0, 50.0)), pad=0.0) == (30, 60, 20, 50)


def test_detail_is_sharper_and_coloured_like_the_overview():
    from egx_notebook.widgets.layers import display_detail, render_rgba

    da = make_raster(shape=(1, 400, 600), source="infrared")
    overview = display_image(da, max_size=100)
    assert overview.step == 6 and overview.style.source == "infrared"
    lon0, lat0 = lonlat_of(da, 200, 260)
    lon1, lat1 = lonlat_of(da, 300, 160)
    detail = display_detail(da, ((lat0, lon0), (lat1, lon1)), overview.style, overview.step, max_size=100)
    assert detail is not None and detail.step < overview.step
    (s, w), (n, e) = detail.bounds
    assert lat0 - 0.01 < s < n < lat1 + 0.01 and lon0 - 0.01 < w < e < lon1 + 0.01
    # the same pixel values get the same colour in both reads (fixed stretch, not per window)
    value = da.values[0, 200, 250]
    one = np.full((1, 1, 1), value, dtype="float32")
    assert (render_rgba(one, "infrared", style=overview.style) == render_rgba(one, "infrared", style=detail.style)).all()
    # zoomed out to the whole raster: the overview is already as sharp
    (S, W), (N, E) = overview.bounds
    assert display_detail(da, ((S, W), (N, E)), overview.style, overview.step, max_size=100) is None


def test_fixed_style_keeps_colours_across_windows():
    from egx_notebook.widgets.layers import style_for

    arr = np.random.default_rng(3).gamma(2.0, 50.0, (1, 50, 50)).astype("float32")
    style = style_for(arr, "sar")
    assert style.sar_db and len(style.limits) == 1
    part = arr[:, :10, :10]
    own, fixed = render_rgba(part, "sar"), render_rgba(part, "sar", style=style)
    assert not (own == fixed).all()  # a window's own 2-98 % stretch differs ...
    np.testing.assert_array_equal(fixed, render_rgba(arr, "sar")[:10, :10])  # ... the overview's does not
