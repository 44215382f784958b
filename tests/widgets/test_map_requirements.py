"""EgxMap against issue 5, item by item, driven from Python with the messages the browser sends.

Sources and split view, overview display, prompts from code, prompt numbering shared
with the model, the panel (progress, history, errors) and the answer layers.
"""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import ipyleaflet as L
import numpy as np
import pytest
import xarray as xr
from widget_helpers import line_feature, lonlat_of, point_feature, polygon_feature, rectangle_feature, send_draw

from egx_notebook.widgets import EgxMap
from egx_notebook.widgets.results import PALETTE, answer_layer


def _png(url: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def _pixel_bounds(da, geom):
    inv = ~da.rio.transform()
    xs, ys = zip(*[inv @ c for c in geom.envelope.exterior.coords])
    return min(xs), min(ys), max(xs), max(ys)


def _draw_box(m, da, x0, y0, x1, y1):
    send_draw(m.draw_control, "draw:created",
              rectangle_feature(*lonlat_of(da, x0, y0), *lonlat_of(da, x1, y1)))


@pytest.fixture(scope="module")
def colocated(tmp_path_factory):
    import egx_notebook as egx

    return egx.datasets.open_colocated(tmp_path_factory.mktemp("colocated"), seed=4, size=128)


# --- display -------------------------------------------------------------------------------------

def test_colocated_stack_each_source_coloured_its_way_with_split_and_layer_control(colocated):
    m = EgxMap(colocated)
    assert set(m.raster_layers) == {"optical", "sar", "infrared"}
    assert m.split == ("optical", "sar")
    split = next(c for c in m.map.controls if isinstance(c, L.SplitMapControl))
    assert split.left_layer is m.raster_layers["optical"] and split.right_layer is m.raster_layers["sar"]
    assert m.raster_layers["infrared"] in m.map.layers  # the third source: a layer to toggle
    assert any(isinstance(c, L.LayersControl) for c in m.map.controls)
    sar, ir, opt = (_png(m.raster_layers[k].url) for k in ("sar", "infrared", "optical"))
    on = sar[..., 3] > 0
    assert on.mean() > 0.5 and (sar[on, 0] == sar[on, 1]).all() and (sar[on, 1] == sar[on, 2]).all()
    on = ir[..., 3] > 0
    assert (ir[on, 0] != ir[on, 2]).mean() > 0.5  # a colour map, not grey
    on = opt[..., 3] > 0
    assert (opt[on, 0] != opt[on, 2]).mean() > 0.3  # true colour
    m.opacity.value = 0.3
    assert all(lay.opacity == pytest.approx(0.3) for lay in m.raster_layers.values())
    assert list(m.chat.target.options) == ["optical", "sar", "infrared"]


def test_big_raster_is_displayed_from_a_decimated_read(tmp_path):
    import rioxarray
    from widget_helpers import make_raster

    make_raster(shape=(1, 1800, 1500), source="sar", seed=5).rio.to_raster(tmp_path / "big.tif")
    lazy = rioxarray.open_rasterio(tmp_path / "big.tif", chunks=True)
    lazy.attrs["egx_source"] = "sar"
    m = EgxMap(lazy, max_size=300)
    img = _png(m.raster_layers[next(iter(m.raster_layers))].url)
    assert max(img.shape[:2]) <= 330  # ~max_size (Web Mercator warping changes the size a little)
    assert not lazy.variable._in_memory  # the array was never loaded


# --- prompts ------------------------------------------------------------------------------------

def test_prompts_from_code_show_on_the_map_and_can_be_cleared(utm_optical):
    m = EgxMap(utm_optical)
    t = utm_optical.rio.transform()
    (x0, y0), (x1, y1) = t @ (100, 80), t @ (150, 40)
    m.add_prompt((x0, y0, x1, y1))  # a box in the raster's CRS
    m.add_prompt(tuple(t @ (200, 100)))  # a point
    assert list(m.prompts["kind"]) == ["point", "box"] and list(m.prompts["label"]) == ["region 1", "region 2"]
    assert _pixel_bounds(utm_optical, m.prompts.geometry.iloc[1]) == pytest.approx((100, 40, 150, 80), abs=1.0)
    assert len(m.draw_control.data) == 2  # drawn on the map, editable there
    assert [mk.title for mk in m.labels_layer.layers] == ["region 1", "region 2"]
    lon, lat = lonlat_of(utm_optical, 200, 100)
    assert m.labels_layer.layers[0].location == pytest.approx((lat, lon), abs=1e-6)  # label at its point
    m.chat.clear_button.click()
    assert len(m.prompts) == 0 and m.labels_layer.layers == ()
    assert "No regions drawn" in m.chat.prompts_info.value


def test_a_bad_prompt_from_code_is_a_prompt_error(utm_optical):
    from egx_notebook.errors import PromptError

    m = EgxMap(utm_optical)
    with pytest.raises(PromptError, match="GeoJSON Feature"):
        m.add_prompt((1.0, 2.0, 3.0))


def test_drawn_circle_is_refused_in_the_panel(utm_optical):
    m = EgxMap(utm_optical)
    circle = point_feature(*lonlat_of(utm_optical, 50, 50))
    circle["properties"]["type"] = "circle"
    send_draw(m.draw_control, "draw:created", circle)
    assert len(m.prompts) == 0 and "circles are not prompts" in m.chat.error.value


# --- with the tiny real checkpoint ---------------------------------------------------------------

def test_every_prompt_kind_reaches_the_model_with_the_region_numbers_of_the_map(utm_optical, tiny_model):
    m = EgxMap(utm_optical)
    _draw_box(m, utm_optical, 100, 40, 150, 80)
    send_draw(m.draw_control, "draw:created", point_feature(*lonlat_of(utm_optical, 30, 150)))
    send_draw(m.draw_control, "draw:created", polygon_feature(
        [lonlat_of(utm_optical, *c) for c in ((200, 20), (260, 30), (230, 90))]))
    send_draw(m.draw_control, "draw:created", line_feature(  # the free-form tool: closed into a polygon
        [lonlat_of(utm_optical, *c) for c in ((20, 20), (60, 25), (70, 60), (25, 55))]))
    assert list(m.prompts["kind"]) == ["point", "box", "polygon", "polygon"]
    assert [mk.title for mk in m.labels_layer.layers] == ["region 1", "region 2", "region 3", "region 4"]
    ans = m.ask("What is the relation between region 1 and region 2?")
    assert m.chat.error.value == ""
    # the model's region i is the map's region i, at the same place in the raster's CRS
    assert list(ans.prompts["prompt_id"]) == [1, 2, 3, 4]
    assert list(ans.prompts["kind"])[:2] == ["point", "box"]
    assert ans.prompts.crs == m.prompts.crs == utm_optical.rio.crs
    for drawn, asked in zip(m.prompts.geometry, ans.prompts.geometry):
        assert drawn.centroid.distance(asked.centroid) < 10.0  # one 10 m pixel


def test_freehand_scribble_reaches_the_model_as_a_mask(utm_optical, tiny_model):
    m = EgxMap(utm_optical, freeform="scribble", scribble_width=3)
    send_draw(m.draw_control, "draw:created",
              line_feature([lonlat_of(utm_optical, 50, 50), lonlat_of(utm_optical, 120, 60)]))
    assert list(m.prompts["kind"]) == ["scribble"]
    ans = m.ask("What is this?")
    assert list(ans.prompts["kind"]) == ["mask"]
    x0, y0, x1, y1 = _pixel_bounds(utm_optical, ans.prompts.geometry.iloc[0])
    assert (x0, y0, x1, y1) == pytest.approx((47, 47, 123, 63), abs=2.0)


def test_progress_is_shown_and_buttons_disabled_while_the_model_runs(utm_optical, tiny_model):
    m = EgxMap(utm_optical)
    seen = []
    call = m._call

    def spy(task, question):
        seen.append((m.chat.busy, m.chat.progress.layout.visibility, m.chat.ask_button.disabled,
                     all(b.disabled for b in m.chat.task_buttons.values())))
        return call(task, question)

    m._call = spy
    m.chat.question.value = "What kind of scene is this?"
    m.chat.ask_button.click()
    assert seen == [(True, "visible", True, True)]
    assert not m.chat.busy and m.chat.progress.layout.visibility == "hidden" and not m.chat.ask_button.disabled


def test_history_keeps_the_conversation_and_follow_ups_use_it(utm_optical, talking_model):
    m = EgxMap(utm_optical)
    _draw_box(m, utm_optical, 100, 40, 150, 80)
    first = m.ask("What is this?")
    assert m.chat.question.value == ""  # ready for the next question
    second = m.ask("How many ships are there?")
    assert [r for r, _ in m.chat.messages] == ["you", "model", "you", "model"]
    assert m.chat.messages[2][1] == "[ask] How many ships are there?"
    assert m.chat.messages[3][1] == second.text and second.text.strip()
    assert m.answers == [first, second] and m.last_answer is second
    assert len(m.conversations) == 1  # one da.egx.chat() carried both turns
    chat = next(iter(m.conversations.values()))
    assert len(chat.history) == 2
    assert m.chat.history.value.count("egx-msg-model") == 2


def test_model_errors_are_shown_in_the_panel(utm_optical, tmp_path):
    import egx_notebook as egx

    broken = tmp_path / "broken-checkpoint"  # looks like a checkpoint, fails when the first question loads it
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"\0" * 16)
    egx.use(broken)
    m = EgxMap(utm_optical)
    m.chat.question.value = "What is this?"
    m.chat.ask_button.click()
    assert "egx-error-message" in m.chat.error.value and "Error" in m.chat.error.value
    assert "Traceback" not in m.chat.error.value
    assert m.answers == [] and m.result_layers == [] and not m.chat.busy


def test_pixel_map_answers_come_back_in_pixel_space(pixel_chip, tiny_model):
    m = EgxMap(pixel_chip)
    send_draw(m.draw_control, "draw:created", rectangle_feature(20, -10, 60, -50))
    ans = m.ask("What is this?")
    assert ans.prompts.crs is None
    assert ans.prompts.geometry.iloc[0].bounds == pytest.approx((20, 10, 60, 50), abs=1.0)
    layer = m.result_layers[-1]
    outline = next(lay for lay in layer.layers if isinstance(lay, L.GeoJSON))
    xs, ys = zip(*outline.data["features"][0]["geometry"]["coordinates"][0])
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((20, 60, -50, -10), abs=1.0)  # (col, -row)


def test_task_buttons_need_what_they_need(utm_optical, tiny_model):
    m = EgxMap(utm_optical)
    m.chat.task_buttons["refer"].click()
    assert "draw a point, box or shape" in m.chat.error.value
    m.chat.task_buttons["ground"].click()
    assert "type what to find" in m.chat.error.value
    _draw_box(m, utm_optical, 100, 40, 150, 80)
    m.chat.task_buttons["segment"].click()
    assert m.chat.error.value == "" and m.last_answer.task == "segment"
    m.chat.task_buttons["refer"].click()
    assert m.chat.error.value == "" and len(m.answers) == 2
    assert [lay.name for lay in m.result_layers] == ["answer 1: segment", "answer 2: refer"]
    m.clear_results()
    assert m.result_layers == [] and not any(isinstance(lay, L.LayerGroup) and lay.name.startswith("answer")
                                             for lay in m.map.layers)
    assert len(m.answers) == 2  # answers stay in Python


# --- answer layers ------------------------------------------------------------------------------

def test_answer_layer_masks_boxes_labels_and_score_popups(utm_optical):
    """A test double with an Answer's attributes: masks on the raster grid, regions in its CRS."""
    import geopandas as gpd
    from shapely.geometry import box

    m = EgxMap(utm_optical)
    t = utm_optical.rio.transform()
    mask = np.zeros((2, 200, 300), dtype="float32")
    mask[0, 40:80, 100:150] = 0.9
    mask[1, 120:140, 20:60] = 0.7
    mask_da = xr.DataArray(mask, dims=("object", "y", "x"),
                           coords={"y": utm_optical["y"], "x": utm_optical["x"]}).rio.write_crs(utm_optical.rio.crs)
    regions = gpd.GeoDataFrame(
        {"label": ["ship", "tank"], "score": [0.87, 0.42]},
        geometry=[box(*(t @ (100, 80)), *(t @ (150, 40))), box(*(t @ (20, 140)), *(t @ (60, 120)))],
        crs=utm_optical.rio.crs)
    answer = SimpleNamespace(text="Found 2 objects.", mask=mask_da, regions=regions, prompts=None)
    group = answer_layer(answer, "answer 1: ground", m._to_map)
    overlay, *rest = group.layers
    assert isinstance(overlay, L.ImageOverlay) and overlay.name == "answer 1: ground mask"
    rgba = _png(overlay.url)
    alphas = set(np.unique(rgba[..., 3]))
    assert alphas == {0, 115}  # semi-transparent where the masks are, clear elsewhere
    colours = {tuple(c) for c in rgba[rgba[..., 3] > 0][:, :3]}
    assert colours == {tuple(int(PALETTE[i][k:k + 2], 16) for k in (1, 3, 5)) for i in (0, 1)}
    (s, w), (n, e) = overlay.bounds
    lon0, lat0 = lonlat_of(utm_optical, 0, 0)
    assert w == pytest.approx(lon0, abs=2e-4) and n == pytest.approx(lat0, abs=2e-4)
    geojsons = [lay for lay in rest if isinstance(lay, L.GeoJSON)]
    markers = [lay for lay in rest if isinstance(lay, L.Marker)]
    assert [g.data["features"][0]["properties"]["label"] for g in geojsons] == ["ship", "tank"]
    assert "score 0.870" in geojsons[0].popup.value and "score 0.420" in geojsons[1].popup.value
    assert [mk.title for mk in markers] == ["ship 0.87", "tank 0.42"]
    xs, ys = zip(*geojsons[0].data["features"][0]["geometry"]["coordinates"][0])
    (lon_a, lat_a), (lon_b, lat_b) = lonlat_of(utm_optical, 100, 80), lonlat_of(utm_optical, 150, 40)
    assert (min(xs), max(xs)) == pytest.approx((lon_a, lon_b), abs=2e-4)
    assert (min(ys), max(ys)) == pytest.approx((lat_a, lat_b), abs=2e-4)
