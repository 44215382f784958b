"""Fixtures for the widget tests: small seeded rasters built in memory."""

from __future__ import annotations

import pytest
import xarray as xr
from affine import Affine
from widget_helpers import make_raster


@pytest.fixture
def utm_optical() -> xr.DataArray:
    return make_raster()


@pytest.fixture
def utm_sar() -> xr.DataArray:
    return make_raster(shape=(2, 200, 300), source="sar", seed=1)


@pytest.fixture
def pixel_chip() -> xr.DataArray:
    """A CRS-less infrared chip: pixel coordinates (centres 0.5, 1.5, ...)."""
    return make_raster(shape=(1, 128, 160), source="infrared", crs=None, transform=Affine.identity(), seed=2)


@pytest.fixture
def tiny_model(request):
    """``egx.use(tiny_checkpoint)``: the tiny random real checkpoint from tests/conftest.py."""
    import egx_notebook as egx

    try:
        path = request.getfixturevalue("tiny_checkpoint")
    except pytest.FixtureLookupError:
        pytest.skip("tests/conftest.py does not provide the tiny_checkpoint fixture yet")
    return egx.use(path)
