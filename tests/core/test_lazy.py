"""A dask-backed 10k x 10k raster is read window by window, never whole."""

import dask.array as dsa
import numpy as np
import pytest
import rioxarray  # noqa: F401  (da.rio)
import xarray as xr

import egx_notebook as egx

GSD = 10.0
X0, Y0 = 300_000.0, 5_000_000.0
N = 10_000


class CountingSource:
    """Array-like that computes pixels on demand and records every read."""

    def __init__(self, shape):
        self.shape, self.dtype, self.ndim = shape, np.dtype("float32"), len(shape)
        self.reads = []

    def __getitem__(self, key):
        out = np.broadcast_to(np.float32(1), self.shape)[key].copy()  # only the selection is materialised
        if out.size:
            self.reads.append(out.size)
        return out


@pytest.fixture
def big():
    src = CountingSource((2, N, N))
    data = dsa.from_array(src, chunks=(2, 500, 500), asarray=False)
    da = xr.DataArray(data, dims=("band", "y", "x"),
                      coords={"y": Y0 - (np.arange(N) + 0.5) * GSD, "x": X0 + (np.arange(N) + 0.5) * GSD})
    da = da.assign_coords(band_name=("band", ["VV", "VH"])).rio.write_crs("EPSG:32633")
    da.attrs["egx_source"] = "sar"
    return da, src


def test_point_prompt_reads_only_its_window(big, fake_engine):
    da, src = big
    x, y = X0 + 4321.5 * GSD, Y0 - 7777.5 * GSD
    ans = da.egx.segment(point=(x, y))
    assert ans.view.height == ans.view.width == 128  # a point's window (POINT_REGION_SIDE)
    assert ans.view.factor == 2  # decimated to the fake model's 64 px input, through dask's coarsen
    read = sum(src.reads)
    assert 0 < read <= 4 * 2 * 500 * 500, f"read {read} pixels for a 128 px window"
    # the answer's mask is lazy on the full grid; computing it reads nothing from the raster
    assert ans.mask.chunks is not None and ans.mask.shape == (1, N, N)
    before = sum(src.reads)
    block = ans.mask.isel(y=slice(7770, 7790), x=slice(4310, 4330)).values
    assert block.any() and sum(src.reads) == before
    assert ans.mask.rio.transform() == da.rio.transform()


def test_ground_on_huge_raster_refuses_too_many_tiles(big, fake_engine):
    da, src = big
    with pytest.raises(egx.PromptError, match="tiles"):
        da.egx.ground("ship")
    assert sum(src.reads) <= 2 * 4 * 500 * 500  # at most the small centre sample that tells the SAR scale


def test_ground_tiles_and_merges(tmp_path, fake_engine):
    from core_rasters import write_tif

    rng = np.random.default_rng(2)
    path = write_tif(tmp_path / "sar.tif", rng.gamma(1.0, 0.05, (2, 100, 150)).astype("float32"), descriptions=["VV", "VH"])
    da = egx.open_raster(path, chunks=64)
    ans = da.egx.ground("ship", whole_up_to=1)
    assert all(v.factor == 1 and v.height == 64 for v in ans.views)
    assert len(ans.views) == 2 * 3  # rows start at 0, 36; cols at 0, 48, 86 (step 48, last flush)
    assert ans.mask is not None and ans.mask.chunks is not None
    assert ans.mask.shape[1:] == (100, 150)
    assert len(ans.regions) == ans.mask.sizes["object"] and (ans.regions.label == "thing").all()
    n = len(ans.regions)
    assert ans.text.startswith(f"Found {n} thing{'' if n == 1 else 's'} in 6 tiles"), ans.text


def test_ground_looks_at_a_chip_whole_and_tiles_a_larger_raster(tmp_path, fake_engine):
    from core_rasters import write_tif

    rng = np.random.default_rng(3)
    path = write_tif(tmp_path / "sar.tif", rng.gamma(1.0, 0.05, (2, 100, 150)).astype("float32"), descriptions=["VV", "VH"])
    da = egx.open_raster(path)
    whole = da.egx.ground("ship")  # 150 px <= 4 x the 64 px input: one decimated look
    assert len(whole.views) == 1 and whole.views[0].factor > 1 and whole.views[0].width == 150
    assert whole.mask is None or whole.mask.shape[1:] == (100, 150)
    tiled = da.egx.ground("ship", whole_up_to=2)  # 150 px > 2 x 64: native-resolution tiles
    assert len(tiled.views) == 6 and all(v.factor == 1 for v in tiled.views)
    with pytest.raises(egx.PromptError, match="whole_up_to"):
        da.egx.ground("ship", whole_up_to=0)


def test_ground_text_counts_in_plural_words():
    from egx_notebook.model.data.vocabulary import count_phrase, singular_word

    assert [count_phrase(1, "ship"), count_phrase(10, "ship"), count_phrase(3, "person"),
            count_phrase(2, "oil well"), count_phrase(2, "boats"), count_phrase(0, "tank")] == [
        "1 ship", "10 ships", "3 people", "2 oil wells", "2 boats", "no tanks"]
    assert [singular_word(w) for w in ("people", "Ships", "oil wells", "kites", "glass", "bodies")] == [
        "person", "ship", "oil well", "kite", "glass", "body"]


def test_point_prompt_through_the_real_model_reads_only_windows(big, steered_engine):
    """The same 10k x 10k raster through a real (tiny) checkpoint: windows only, mask lazy."""
    da, src = big
    ans = da.egx.segment(point=(X0 + 4321.5 * GSD, Y0 - 7777.5 * GSD))
    assert ans.view.factor == 1 and max(ans.view.shape) <= 128  # a zoom window within the tiny model's input
    read = sum(src.reads)
    assert 0 < read <= 2 * 4 * 2 * 500 * 500, f"read {read} pixels for a {ans.view.shape} px window"
    assert ans.mask is not None and ans.mask.chunks is not None and ans.mask.shape[1:] == (N, N)
    before = sum(src.reads)
    x0, y0, x1, y1 = ans.view.window
    window = ans.mask.isel(y=slice(y0, y1), x=slice(x0, x1)).any("object").values
    assert window.any() and sum(src.reads) == before
    assert not ans.mask.isel(y=slice(0, 500), x=slice(0, 500)).values.any()  # far from the prompt: empty
    assert ans.regions.crs == da.rio.crs and ans.mask.rio.transform() == da.rio.transform()
