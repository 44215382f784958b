"""Every bad input raises its typed error with a message that says what to do."""

import numpy as np
import pytest
import shapely
import xarray as xr

import egx_notebook as egx

from core_rasters import GSD, ORIGIN


@pytest.fixture
def da(optical_tif, fake_engine):
    return egx.open_raster(optical_tif)


def inside(c, r):
    return ORIGIN[0] + c * GSD, ORIGIN[1] - r * GSD


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        ({"point": inside(-5, 10)}, egx.PromptError, "outside the raster"),
        ({"point": (15.0, 42.0)}, egx.PromptError, "crs="),  # lon/lat without crs=
        ({"box": (*inside(400, 10), *inside(500, 0))}, egx.PromptError, "outside the raster"),
        ({"box": (*inside(20, 5), *inside(10, 0))}, egx.PromptError, "xmin < xmax"),
        ({"box": (1.0, 2.0, 3.0)}, egx.PromptError, "four numbers"),
        ({"point": (1.0, 2.0, 3.0)}, egx.PromptError, "two numbers"),
        ({"point": (np.nan, 2.0)}, egx.PromptError, "NaN"),
        ({"polygon": [inside(0, 0), inside(10, 10), inside(10, 0), inside(0, 10)]}, egx.PromptError, "make_valid"),
        ({"polygon": [inside(0, 0), inside(10, 10)]}, egx.PromptError, "at least 3"),
        ({"polygon": [inside(0, 0), (np.nan, 1.0), inside(10, 0)]}, egx.PromptError, "NaN"),
        ({"polygon": shapely.Point(*inside(3, 3))}, egx.PromptError, "point="),
        ({"point": (15.0, 42.0), "crs": "EPSG:999999"}, egx.CRSError, "EPSG"),
        ({"point": inside(5, 5), "level": "zoom"}, egx.PromptError, "level"),
        ({"mask": np.ones((3, 3), bool)}, egx.PromptError, "shape"),
        ({"point": []}, egx.PromptError, "empty"),
    ],
)
def test_bad_prompts(da, kwargs, err, match):
    with pytest.raises(err, match=match):
        da.egx.ask("What is this?", **kwargs)


def test_bad_mask_prompts(da):
    grid_mask = da.isel(band=0) > 1e9
    with pytest.raises(egx.PromptError, match="no True pixels"):
        da.egx.segment(mask=grid_mask)
    with pytest.raises(egx.PromptError, match="boolean"):
        da.egx.segment(mask=da.isel(band=0))


@pytest.mark.parametrize("question, match", [("", "empty"), ("   \n", "empty"), ("x" * 5000, "shorten"), (42, "string")])
def test_bad_questions(da, question, match):
    with pytest.raises(egx.PromptError, match=match):
        da.egx.ask(question)


def test_prompts_required(da):
    with pytest.raises(egx.PromptError, match="point="):
        da.egx.refer()
    with pytest.raises(egx.PromptError, match="prompt"):
        da.egx.segment()
    with pytest.raises(egx.PromptError, match="needs a prompt"):
        da.egx.ask("What is this?", level="region")


def _grid(data, **kw):
    n = data.shape[-1]
    return xr.DataArray(data, dims=("band", "y", "x"), coords={"y": np.arange(data.shape[1]) + 0.5, "x": np.arange(n) + 0.5}, **kw)


@pytest.mark.parametrize("dtype, match", [("complex64", "np.abs"), ("bool", "astype"), ("object", "astype")])
def test_unsupported_dtypes(fake_engine, dtype, match):
    data = _grid(np.ones((3, 8, 8)).astype(dtype))
    with pytest.raises(egx.SourceError, match=match):
        data.egx.caption()


def test_zero_size_and_band_counts(fake_engine):
    with pytest.raises(egx.SourceError, match="empty"):
        _grid(np.ones((3, 0, 8), "float32")).egx.caption()
    two = _grid(np.ones((2, 8, 8), "float32"), attrs={"egx_source": "optical"})
    with pytest.raises(egx.SourceError, match="set_bands"):
        two.egx.caption()
    three = _grid(np.ones((3, 8, 8), "float32"), attrs={"egx_source": "infrared"})
    with pytest.raises(egx.SourceError, match="set_bands|bands"):
        three.egx.set_bands([1, 2])
    with pytest.raises(egx.SourceError, match="no band named"):
        three.egx.set_source("optical").egx.set_bands(["B8", "B4", "B3"])
    with pytest.raises(egx.SourceError, match="unknown source"):
        three.egx.set_source("lidar")


def test_open_raster_errors(tmp_path):
    with pytest.raises(egx.SourceError, match="no such raster"):
        egx.open_raster(tmp_path / "missing.tif")
    (tmp_path / "junk.tif").write_text("not a raster")
    with pytest.raises(egx.SourceError, match="GeoTIFF"):
        egx.open_raster(tmp_path / "junk.tif")


def test_model_errors(tmp_path):
    with pytest.raises(egx.ModelError, match="no checkpoint"):
        egx.use(tmp_path / "nowhere")
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(egx.ModelError, match="safetensors"):
        egx.use(tmp_path / "ckpt")
    from egx_notebook.engine import default_checkpoint_available

    if not default_checkpoint_available():
        with pytest.raises(egx.ModelError, match="no default checkpoint"):
            egx.use()
