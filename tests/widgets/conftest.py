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


@pytest.fixture(scope="session")
def talking_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint's tokenizer and config with an *untied*, seeded random LM head.

    ``tiny_checkpoint`` ties the LM head to the embeddings, so greedy decoding repeats
    the last prompt token (``<|assistant|>``, a special token) and every answer is the
    empty string. With an untied head the (meaningless) answers have visible text, which
    the UI tests need to find in the panel. Still a real checkpoint, loaded by the product.
    """
    import torch

    from egx_notebook.model import EgxConfig, EgxForConditionalGeneration, EgxProcessor

    processor = EgxProcessor.from_pretrained(tiny_checkpoint)
    config = EgxConfig.from_pretrained(tiny_checkpoint)
    config.text_config.tie_word_embeddings = False
    torch.manual_seed(1)
    model = EgxForConditionalGeneration(config).eval()
    path = tmp_path_factory.mktemp("tiny-egx-untied")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture
def talking_model(talking_checkpoint):
    """``egx.use(talking_checkpoint)``: answers with (meaningless) visible text."""
    import egx_notebook as egx

    return egx.use(talking_checkpoint)
