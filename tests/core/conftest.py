"""Fixtures for tests/core: small seeded GeoTIFFs written with rasterio, and a model test double."""

from __future__ import annotations

import numpy as np
import pytest
from core_rasters import write_tif
from egx_core_fakes import FakeModel, FakeProcessor

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


def _engine_reset():
    import egx_notebook.engine as eng

    eng._ENGINE = None


@pytest.fixture
def tiny_engine(tiny_checkpoint):
    """``egx.use(tiny_checkpoint)``: the real model classes in a tiny random configuration."""
    import egx_notebook as egx

    engine = egx.use(tiny_checkpoint, device="cpu")
    yield engine
    _engine_reset()


@pytest.fixture(scope="session")
def steered_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint with weights set so every answer has a [SEG] mask and [DET] boxes (core_checkpoints)."""
    from core_checkpoints import steer_checkpoint

    return steer_checkpoint(tiny_checkpoint, tmp_path_factory.mktemp("tiny-egx-steered"))


@pytest.fixture
def steered_engine(steered_checkpoint):
    """``egx.use(steered_checkpoint)``."""
    import egx_notebook as egx

    engine = egx.use(steered_checkpoint, device="cpu")
    yield engine
    _engine_reset()
