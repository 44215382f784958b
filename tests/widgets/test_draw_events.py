"""Draw-control messages -> prompts (no map, no model)."""

from __future__ import annotations

import pytest
from widget_helpers import line_feature, point_feature, polygon_feature, rectangle_feature

from egx_notebook.widgets.draw import PromptStore, feature_kind


def test_kinds_of_drawn_shapes():
    assert feature_kind(point_feature(15.0, 42.0))[0] == "point"
    assert feature_kind(rectangle_feature(15.0, 42.0, 15.1, 42.1))[0] == "box"
    assert feature_kind(polygon_feature([(15.0, 42.0), (15.1, 42.0), (15.05, 42.1)]))[0] == "polygon"
    kind, geom = feature_kind(line_feature([(15.0, 42.0), (15.1, 42.0), (15.05, 42.1)]))
    assert kind == "polygon" and geom.geom_type == "Polygon" and geom.area > 0
    assert feature_kind(line_feature([(15.0, 42.0), (15.1, 42.0)]), "scribble")[0] == "scribble"


def test_circle_is_not_a_prompt():
    store = PromptStore()
    feat = point_feature(15.0, 42.0)
    feat["properties"]["type"] = "circle"
    store.handle_draw(None, "created", feat)
    assert len(store) == 0 and "circle" in store.errors[0]


def test_leaflet_draw_create_edit_delete_keeps_region_numbers():
    store = PromptStore()
    a = rectangle_feature(15.00, 42.00, 15.01, 42.01)
    b = rectangle_feature(15.05, 42.05, 15.06, 42.06)
    c = point_feature(15.02, 42.02)
    for f in (a, b, c):
        store.handle_draw(None, "created", f)
    # points come first in the model's numbering (point=, box=, polygon=, mask=)
    assert [p.kind for p in store.ordered()] == ["point", "box", "box"]
    assert store.labels == ["region 1", "region 2", "region 3"]
    # edit b (moved slightly): it stays the second box
    b2 = rectangle_feature(15.051, 42.05, 15.062, 42.06)
    store.handle_draw(None, "edited", b2)
    assert store.ordered()[2].feature is b2 and store.ordered()[1].feature is a
    store.handle_draw(None, "deleted", a)
    assert [p.feature for p in store.ordered()] == [c, b2]


def test_geoman_messages():
    store = PromptStore()
    a = rectangle_feature(15.00, 42.00, 15.01, 42.01)
    a["properties"]["type"] = "rectangle"
    b = polygon_feature([(15.0, 42.0), (15.1, 42.0), (15.05, 42.1)])
    store.handle_draw(None, "create", [a])
    store.handle_draw(None, "create", [b])
    assert [p.kind for p in store.ordered()] == ["box", "polygon"]
    b2 = polygon_feature([(15.0, 42.0), (15.2, 42.0), (15.05, 42.1)])
    store.handle_draw(None, "vertexdrag", [a, b2])  # geoman sends every feature after an edit
    assert store.ordered()[1].feature is b2
    store.handle_draw(None, "remove", [a])
    assert [p.kind for p in store.ordered()] == ["polygon"]


def test_bad_freeform_option():
    with pytest.raises(ValueError, match="freeform"):
        PromptStore(freeform="blob")
