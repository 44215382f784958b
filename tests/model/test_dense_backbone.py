"""The grounding head's own backbone: shapes on any view size, its deep stages reach the output."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from egx_notebook.model.modeling.dense_backbone import DenseBackbone  # noqa: E402


@pytest.mark.parametrize("h, w", [(64, 64), (50, 70), (33, 129)])
def test_output_is_one_stride_4_map_on_any_size(h, w):
    net = DenseBackbone(8, (4, 8, 16, 32, 32), out_dim=12).eval()
    with torch.no_grad():
        y = net(torch.randn(2, 8, h, w))
    assert y.shape == (2, 12, -(-h // 4), -(-w // 4))  # two stride-2 convs with padding: ceil twice
    assert torch.isfinite(y).all()


def test_the_stride_32_stage_shapes_the_output():
    """The top-down merge carries the deepest stage into the stride-4 map (context, not only pixels)."""
    torch.manual_seed(0)
    net = DenseBackbone(3, (4, 8, 16, 32, 32), out_dim=8).eval()
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        before = net(x)
        net.lateral[-1].weight.add_(1.0)
        after = net(x)
    assert (after - before).abs().max() > 1e-3


def test_bad_widths_are_refused():
    with pytest.raises(ValueError, match="give 5 widths"):
        DenseBackbone(3, (8, 16, 32), blocks=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="4 block counts"):
        DenseBackbone(3, (4, 8, 16, 32, 32), blocks=(1, 1))
