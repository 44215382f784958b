"""Fixtures for tests/core: small seeded GeoTIFFs written with rasterio, and a model test double."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from egx_core_fakes import FakeModel, FakeProcessor

UTM = "EPSG:32633"
# a 200 x 300 raster at 10 m, upper-left corner (500000, 4_650_000) in UTM 33N (~42 N, 15 E)
ORIGIN = (500_000.0, 4_650_000.0)
GSD = 10.0


def write_tif(path, data, *, crs=UTM, transform=None, nodata=None, descriptions=None, tags=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    transform = transform or from_origin(*ORIGIN, GSD, GSD)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
        if tags:
            dst.update_tags(**tags)
    return path


@pytest.fixture
def optical_tif(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.random((3, 200, 300)) * 255).astype("uint8")
    return write_tif(tmp_path / "optical.tif", data, descriptions=["red", "green", "blue"])


@pytest.fixture
def sar_tif(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.gamma(1.0, 0.05, (2, 200, 300)).astype("float32")
    return write_tif(tmp_path / "sar.tif", data, descriptions=["VV", "VH"])


@pytest.fixture
def fake_engine():
    import egx_notebook as egx

    model, processor = FakeModel(), FakeProcessor()
    engine = egx.use((model, processor), device="cpu")
    yield engine, model, processor
    import egx_notebook.engine as eng

    eng._ENGINE = None
