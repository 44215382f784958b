"""EgxMap driven from Python: draw messages -> prompts in the raster CRS -> Ask -> answers and layers."""

from __future__ import annotations

import ipyleaflet as L
import numpy as np
import pytest
import xarray as xr
from widget_helpers import lonlat_of, point_feature, rectangle_feature, send_draw

from egx_notebook.widgets import EgxMap


def _pixel_bounds(da, geom):
    inv = ~da.rio.transform()
    xs, ys = zip(*[inv @ c for c in geom.exterior.coords])
    return min(xs), min(ys), max(xs), max(ys)


def test_offline_by_default(utm_optical):
    m = EgxMap(utm_optical)
    assert not any(isinstance(lay, L.TileLayer) for lay in m.map.layers)
    overlays = [lay for lay in m.map.layers if isinstance(lay, L.ImageOverlay)]
    assert len(overlays) == 1 and overlays[0].url.startswith("data:image/png;base64,")
    assert any(isinstance(c, L.LayersControl) for c in m.map.controls)
    m.opacity.value = 0.4
    assert overlays[0].opacity == pytest.approx(0.4)
    assert m.chat.ask_button.description == "Ask"
    assert set(m.chat.task_buttons) == {"refer", "ground", "segment", "caption"}


def _view(m, sw, ne):
    """What the browser sends when the user pans or zooms: the map's new bounds."""
    (s, w), (n, e) = sw[::-1], ne[::-1]
    with m.map.hold_trait_notifications():
        for name, value in (("south", s), ("west", w), ("north", n), ("east", e)):
            m.map.set_trait(name, value)


def test_zooming_in_reads_the_view_sharper_and_zooming_out_drops_it(utm_optical):
    m = EgxMap(utm_optical, max_size=60)  # overview: 300 px wide raster read every 5th pixel
    overview = m.raster_layers["optical"]
    assert overview.pane == "egx-raster" and m.detail_layers == {}
    _view(m, lonlat_of(utm_optical, 120, 110), lonlat_of(utm_optical, 170, 70))
    detail = m.detail_layers["optical"]
    assert detail in m.map.layers and detail.pane == "egx-raster" and detail.name == "optical detail"
    (s, w), (n, e) = detail.bounds
    lon0, lat0 = lonlat_of(utm_optical, 110, 120)
    lon1, lat1 = lonlat_of(utm_optical, 180, 60)
    assert lat0 - 1e-3 < s < n < lat1 + 1e-3 and lon0 - 1e-3 < w < e < lon1 + 1e-3
    m.opacity.value = 0.5
    assert detail.opacity == pytest.approx(0.5)
    first_url = detail.url
    _view(m, lonlat_of(utm_optical, 20, 60), lonlat_of(utm_optical, 70, 20))  # pan: the same layer, re-read
    assert m.detail_layers["optical"] is detail and detail.url != first_url
    _view(m, lonlat_of(utm_optical, -50, 260), lonlat_of(utm_optical, 350, -60))  # zoom out past the raster
    assert m.detail_layers == {} and detail not in m.map.layers


def test_pixel_space_chip_gets_detail_in_pixel_units(pixel_chip):
    m = EgxMap(pixel_chip, max_size=40)
    _view(m, (20.0, -60.0), (50.0, -30.0))  # (lng = column, lat = -row)
    (s, w), (n, e) = m.detail_layers["infrared"].bounds
    assert -66 <= s < n <= -24 and 14 <= w < e <= 56


def test_detail_can_be_turned_off(utm_optical):
    m = EgxMap(utm_optical, max_size=60, detail=False)
    _view(m, lonlat_of(utm_optical, 120, 110), lonlat_of(utm_optical, 170, 70))
    assert m.detail_layers == {}


def test_drawn_rectangle_lands_on_the_right_utm_pixels(utm_optical):
    m = EgxMap(utm_optical)
    lon0, lat0 = lonlat_of(utm_optical, 100, 40)
    lon1, lat1 = lonlat_of(utm_optical, 150, 80)
    send_draw(m.draw_control, "draw:created", rectangle_feature(lon0, lat0, lon1, lat1))
    prompts = m.prompts
    assert prompts.crs == utm_optical.rio.crs
    assert list(prompts["label"]) == ["region 1"] and list(prompts["kind"]) == ["box"]
    x0, y0, x1, y1 = _pixel_bounds(utm_optical, prompts.geometry.iloc[0])
    assert (x0, y0, x1, y1) == pytest.approx((100, 40, 150, 80), abs=1.0)
    assert "region 1 (box)" in m.chat.prompts_info.value
    assert len(m.labels_layer.layers) == 1


def test_edit_and_delete_from_the_browser(utm_optical):
    m = EgxMap(utm_optical)
    box = rectangle_feature(*lonlat_of(utm_optical, 10, 10), *lonlat_of(utm_optical, 30, 30))
    pt = point_feature(*lonlat_of(utm_optical, 200, 100))
    send_draw(m.draw_control, "draw:created", box)
    send_draw(m.draw_control, "draw:created", pt)
    assert list(m.prompts["kind"]) == ["point", "box"]
    moved = rectangle_feature(*lonlat_of(utm_optical, 12, 10), *lonlat_of(utm_optical, 40, 30))
    send_draw(m.draw_control, "draw:edited", moved)
    x0, _, x1, _ = _pixel_bounds(utm_optical, m.prompts.geometry.iloc[1])
    assert (x0, x1) == pytest.approx((12, 40), abs=1.0)
    send_draw(m.draw_control, "draw:deleted", pt)
    assert list(m.prompts["kind"]) == ["box"] and list(m.prompts["label"]) == ["region 1"]


def test_geoman_control(utm_optical):
    m = EgxMap(utm_optical, draw="geoman")
    box = rectangle_feature(*lonlat_of(utm_optical, 10, 10), *lonlat_of(utm_optical, 30, 30))
    box["properties"]["type"] = "rectangle"
    send_draw(m.draw_control, "pm:create", box)
    assert list(m.prompts["kind"]) == ["box"]
    send_draw(m.draw_control, "pm:remove", box)
    assert len(m.prompts) == 0


def test_crs_less_raster_shows_in_pixel_space(pixel_chip):
    m = EgxMap(pixel_chip)
    assert m.pixel_map and m.map.crs["name"] == "Simple"
    (s, w), (n, e) = m.raster_layers[next(iter(m.raster_layers))].bounds
    assert (s, w, n, e) == (-128, 0, 0, 160)
    # on a Simple map the browser sends (lng, lat) = (column, -row)
    send_draw(m.draw_control, "draw:created", rectangle_feature(20, -10, 60, -50))
    assert m.prompts.crs is None
    assert m.prompts.geometry.iloc[0].bounds == pytest.approx((20, 10, 60, 50))
    assert m._prompt_arguments()["box"][0].bounds == pytest.approx((20, 10, 60, 50))
    assert "crs" not in m._prompt_arguments()


def test_split_view_for_a_coregistered_stack(utm_optical, utm_sar):
    ds = xr.Dataset({"optical": utm_optical, "sar": utm_sar})
    m = EgxMap(ds)
    assert m.split == ("optical", "sar")
    split = [c for c in m.map.controls if isinstance(c, L.SplitMapControl)]
    assert len(split) == 1
    assert split[0].left_layer is m.raster_layers["optical"] and split[0].right_layer is m.raster_layers["sar"]
    assert list(m.chat.target.options) == ["optical", "sar"]


def test_scribble_becomes_a_mask_on_the_raster_grid(utm_optical):
    from widget_helpers import line_feature

    m = EgxMap(utm_optical, freeform="scribble", scribble_width=2)
    line = line_feature([lonlat_of(utm_optical, 50, 50), lonlat_of(utm_optical, 120, 60)])
    send_draw(m.draw_control, "draw:created", line)
    kwargs = m._prompt_arguments()
    mask = kwargs["mask"][0]
    assert mask.dtype == bool and mask.shape == (200, 300)
    assert bool(mask.isel(y=55, x=85)) and not bool(mask.isel(y=150, x=250))
    assert 100 < int(mask.sum()) < 1000


def test_empty_question_is_shown_in_the_panel_not_raised(utm_optical):
    m = EgxMap(utm_optical)
    m.chat.question.value = "   "
    m.chat.ask_button.click()  # what the browser's click does
    assert "type a question" in m.chat.error.value
    assert "egx-error-message" in m.chat.error.value
    assert m.answers == [] and not m.chat.busy and not m.chat.ask_button.disabled


# --- with the tiny real checkpoint ---------------------------------------------------------------

def test_ask_about_a_drawn_box(utm_optical, tiny_model):
    m = EgxMap(utm_optical)
    n_layers = len(m.map.layers)
    lon0, lat0 = lonlat_of(utm_optical, 100, 40)
    lon1, lat1 = lonlat_of(utm_optical, 150, 80)
    send_draw(m.draw_control, "draw:created", rectangle_feature(lon0, lat0, lon1, lat1))
    m.chat.question.value = "What is this?"
    m.chat.ask_button.click()
    assert m.chat.error.value == ""
    assert len(m.answers) == 1 and m.last_answer is m.answers[0]
    ans = m.last_answer
    assert isinstance(ans.text, str)
    assert ans.text.replace("<", "&lt;").replace(">", "&gt;")[:20] in m.chat.history.value
    assert len(m.map.layers) == n_layers + 1 and m.map.layers[-1] is m.result_layers[-1]
    # the answer's prompt is the drawn box, on the raster's grid
    assert ans.prompts.crs == utm_optical.rio.crs
    x0, y0, x1, y1 = _pixel_bounds(utm_optical, ans.prompts.geometry.iloc[0].envelope)
    assert (x0, y0, x1, y1) == pytest.approx((100, 40, 150, 80), abs=1.5)


def test_task_buttons_and_python_ask(utm_optical, tiny_model):
    m = EgxMap(utm_optical)
    m.chat.question.value = "ship"
    m.chat.task_buttons["ground"].click()
    assert m.chat.error.value == "", m.chat.error.value
    ground = m.last_answer
    assert ground.regions.crs == utm_optical.rio.crs
    m.chat.task_buttons["caption"].click()
    assert len(m.answers) == 2
    ans = m.ask("What is in the scene?")
    assert ans is m.last_answer and len(m.answers) == 3


def test_min_score_dropdown_is_passed_to_ground(utm_optical, tiny_model, monkeypatch):
    from egx_notebook.accessor import EgxDataArrayAccessor

    seen = []
    original = EgxDataArrayAccessor.ground

    def recording(self, expression, **kwargs):  # records, then runs the real ground()
        seen.append(kwargs.get("min_score"))
        return original(self, expression, **kwargs)

    monkeypatch.setattr(EgxDataArrayAccessor, "ground", recording)
    m = EgxMap(utm_optical)
    assert m.chat.min_score.value == "model" and m.chat.ground_min_score is None
    m.chat.question.value = "ship"
    for choice in (0.05, 0.9, "model"):
        m.chat.min_score.value = choice
        m.chat.task_buttons["ground"].click()
        assert m.chat.error.value == "", m.chat.error.value
    assert seen == [0.05, 0.9, None]
    assert [a.task for a in m.answers] == ["ground"] * 3
    with pytest.raises(Exception):  # the dropdown offers only valid thresholds
        m.chat.min_score.value = 1.5


def test_prompt_off_the_raster_is_shown_in_the_panel(utm_optical, tiny_model):
    m = EgxMap(utm_optical)
    send_draw(m.draw_control, "draw:created", point_feature(0.0, 0.0))  # far outside the scene
    m.chat.question.value = "What is this?"
    m.chat.ask_button.click()
    assert "outside the raster" in m.chat.error.value
    assert m.answers == []
    with pytest.raises(Exception, match="outside the raster"):
        m.ask("What is this?")
