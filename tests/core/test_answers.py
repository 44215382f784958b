"""The accessor end to end with a model test double: answers on exactly the raster's grid."""

import numpy as np
import pytest
import xarray as xr

import egx_notebook as egx

from core_rasters import GSD, ORIGIN, UTM


def _box(c0, r0, c1, r1):
    return (ORIGIN[0] + c0 * GSD, ORIGIN[1] - r1 * GSD, ORIGIN[0] + c1 * GSD, ORIGIN[1] - r0 * GSD)


def test_mask_on_exactly_the_input_grid(optical_tif, fake_engine):
    da = egx.open_raster(optical_tif)
    ans = da.egx.segment(box=_box(100, 50, 110, 60))
    m = ans.mask
    assert m.dims == ("object", "y", "x") and m.sizes["object"] == 1
    np.testing.assert_array_equal(m.x.values, da.x.values)
    np.testing.assert_array_equal(m.y.values, da.y.values)
    assert m.rio.crs == da.rio.crs
    assert m.rio.transform() == da.rio.transform()
    # the double echoes the box as a mask: exactly those pixels, at native resolution (factor 1)
    assert ans.view.factor == 1
    rows, cols = np.nonzero(m.isel(object=0).values)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (50, 59, 100, 109)


def test_regions_and_prompts_geodataframes(optical_tif, fake_engine):
    da = egx.open_raster(optical_tif)
    ans = da.egx.refer(box=_box(100, 50, 110, 60))
    assert ans.regions.crs == da.rio.crs
    assert ans.prompts.crs == da.rio.crs
    assert ans.regions.geometry.iloc[0].bounds == pytest.approx(_box(100, 50, 110, 60))
    assert ans.prompts.geometry.iloc[0].bounds == pytest.approx(_box(100, 50, 110, 60))
    assert list(ans.regions.label) == ["thing"] and ans.regions.prompt_id.iloc[0] == 1
    assert "<div" in ans._repr_html_() and isinstance(ans.text, str)


def test_lonlat_prompt_through_the_accessor(optical_tif, fake_engine):
    from pyproj import Transformer

    da = egx.open_raster(optical_tif)
    t = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    lon0, lat0 = t.transform(*_box(100, 50, 110, 60)[:2])
    lon1, lat1 = t.transform(*_box(100, 50, 110, 60)[2:])
    ans = da.egx.segment(box=(lon0, lat0, lon1, lat1), crs="EPSG:4326")
    rows, cols = np.nonzero(ans.mask.isel(object=0).values)
    assert abs(rows.min() - 50) <= 1 and abs(cols.max() - 109) <= 1


def test_scene_level_decimates_and_maps_back(optical_tif, fake_engine):
    _, _, processor = fake_engine
    da = egx.open_raster(optical_tif)
    ans = da.egx.ground("thing", level="scene")
    assert ans.view.factor == 5  # 300 px wide -> 64 px input
    assert processor.arrays[-1].shape == (3, 40, 60)
    assert ans.mask.shape == (1, 200, 300)
    rows, cols = np.nonzero(ans.mask.isel(object=0).values)
    # the double's detection is view [w/4, w/2) x [h/4, h/2) = view cols 15..29, rows 10..19
    assert (cols.min(), cols.max() + 1, rows.min(), rows.max() + 1) == (75, 150, 50, 100)


def test_encoded_view_is_cached(optical_tif, fake_engine):
    _, model, _ = fake_engine
    da = egx.open_raster(optical_tif)
    da.egx.refer(point=_box(100, 50, 101, 51)[:2])
    da.egx.refer(point=_box(102, 52, 103, 53)[:2], level="region")
    assert model.generate_calls == 2
    # both points choose windows of side 64 clipped at the same place? not necessarily: count distinct
    before = model.encode_calls
    da.egx.caption()
    da.egx.ask("What is here?", level="scene")
    assert model.encode_calls == before + 1, "the second prompt on the same view must skip encode_images"


def test_an_in_memory_raster_edited_in_place_is_encoded_again(fake_engine):
    from core_rasters import memory_raster

    _, model, processor = fake_engine
    da = memory_raster((3, 64, 64))
    da.egx.caption()
    da.egx.caption()
    assert model.encode_calls == 1  # unchanged pixels: the cached view
    da.values[:] = 7.0  # the same array, edited in place
    da.egx.caption()
    assert model.encode_calls == 2, "an edited raster must not be answered from its old encoding"
    assert np.all(processor.arrays[-1] == 7.0)


def test_rasters_made_one_after_another_never_share_an_encoding(fake_engine, tmp_path):
    from core_rasters import write_tif

    _, model, processor = fake_engine
    # a new raster often lands where a dropped one was, so ids repeat: the cache must not
    for i in range(40):
        da = xr.DataArray(np.full((3, 64, 64), float(i), "float32"), dims=("band", "y", "x"),
                          coords={"y": np.arange(64.0), "x": np.arange(64.0)}, attrs={"egx_source": "optical"})
        da.egx.refer(point=(30, 30))
        assert np.all(processor.arrays[-1] == float(i)), f"raster {i} was answered from another's encoding"
        del da
    for i in range(6):  # the same file path rewritten between opens
        da = egx.open_raster(write_tif(tmp_path / "scene.tif", np.full((3, 64, 64), float(i), "float32")),
                             source="optical")
        da.egx.caption()
        assert np.all(processor.arrays[-1] == float(i)), f"file version {i} was answered from another's encoding"
        del da
    assert model.encode_calls == 46


def test_chat_carries_history(optical_tif, fake_engine):
    _, _, processor = fake_engine
    da = egx.open_raster(optical_tif)
    chat = da.egx.chat()
    a1 = chat.ask("What is this?", box=_box(10, 10, 20, 20))
    chat.ask("And its colour?")
    builds = [c for c in processor.calls if c[0] == "build_inputs"]
    assert builds[-2][4] == [] and builds[-1][4] == [("What is this?", a1.text)]
    assert len(chat) == 2


def test_sar_source_and_scale_reach_the_processor(tmp_path, fake_engine):
    from core_rasters import write_tif

    _, _, processor = fake_engine
    rng = np.random.default_rng(5)
    data = (10 * np.log10(rng.gamma(1.0, 0.05, (2, 80, 90)))).astype("float32")
    da = egx.open_raster(write_tif(tmp_path / "s1.tif", data, descriptions=["VV_dB", "VH_dB"]))
    da.egx.caption()
    assert processor.calls[-2][:3] == ("preprocess_image", "sar", "db")


def test_the_view_decimation_factor_reaches_the_processor(tmp_path, fake_engine):
    from core_rasters import write_tif

    _, _, processor = fake_engine
    data = np.random.default_rng(6).random((3, 200, 150)).astype("float32")
    da = egx.open_raster(write_tif(tmp_path / "o.tif", data), source="optical")
    da.egx.caption()  # the whole raster on the fake's 64-px input: every 4th pixel
    call = processor.calls[-2]
    assert call[0] == "preprocess_image" and call[3] == (3, 50, 38) and call[4] == 4
    da.egx.refer(box=_box(40, 40, 60, 60))  # a zoom window at native resolution
    call = processor.calls[-2]
    assert call[0] == "preprocess_image" and call[4] == 1


def test_nodata_is_nan_and_all_nodata_window_raises(tmp_path, fake_engine):
    from core_rasters import write_tif

    data = np.full((1, 100, 100), 7, "uint16")
    data[0, :, :80] = 0
    da = egx.open_raster(write_tif(tmp_path / "ir.tif", data, nodata=0, descriptions=["thermal"]))
    assert da.attrs["egx_source"] == "infrared"
    assert np.isnan(da.values[0, 0, 0])
    _, _, processor = fake_engine
    da.egx.caption()
    arr = processor.arrays[-1]
    assert np.isnan(arr[0, :, :10]).all() and np.isfinite(arr[0, :, -10:]).all()
    with pytest.raises(egx.SourceError, match="only nodata"):
        da.egx.segment(box=_box(0, 0, 5, 5), level="region")  # region window 64 px: all left half


def test_dataset_accessor_co_registered(optical_tif, sar_tif, fake_engine):
    _, _, processor = fake_engine
    ds = xr.Dataset({
        "optical": egx.open_raster(optical_tif).rename(band="band_optical", band_name="band_name_optical"),
        "sar": egx.open_raster(sar_tif).rename(band="band_sar", band_name="band_name_sar"),
    })
    assert ds.egx["sar"].dims == ("band", "y", "x") and list(ds.egx["sar"].band_name.values) == ["VV", "VH"]
    assert ds.egx.sources == {"optical": "optical", "sar": "sar"}
    with pytest.raises(egx.SourceError, match="pass var="):
        ds.egx.ask("What is this?")
    ans = ds.egx.ask("What is this?", var="sar", box=_box(10, 10, 20, 20))
    assert ans.source == "sar" and ans.mask.rio.crs == ds["optical"].rio.crs
    assert processor.arrays[-1].shape[0] == 2  # VV, VH
    both = ds.egx.compare("What is this?", point=_box(10, 10, 20, 20)[:2])
    assert set(both) == {"optical", "sar"}


def test_export_round_trips(optical_tif, fake_engine, tmp_path):
    import geopandas as gpd
    import rioxarray

    da = egx.open_raster(optical_tif)
    ans = da.egx.segment(box=[_box(100, 50, 110, 60), _box(10, 10, 30, 40)])
    assert ans.mask.sizes["object"] == 2
    gpkg = ans.to_file(tmp_path / "ans.gpkg")
    back = gpd.read_file(gpkg, layer="regions")
    assert back.crs == da.rio.crs and len(back) == 2
    assert back.geometry.iloc[1].bounds == pytest.approx(_box(10, 10, 30, 40))
    assert len(gpd.read_file(gpkg, layer="prompts")) == 2
    gj = gpd.read_file(ans.to_file(tmp_path / "ans.geojson"))
    assert len(gj) == 2
    tif = ans.save_mask(tmp_path / "mask.tif")
    m = rioxarray.open_rasterio(tif)
    assert m.shape == (2, 200, 300) and m.rio.crs == da.rio.crs
    assert m.rio.transform() == da.rio.transform()
    np.testing.assert_array_equal(m.values.astype(bool), ans.mask.values)
    ds = ans.to_dataset()
    assert ds["mask"].shape == (2, 200, 300) and ds.attrs["text"] == ans.text
