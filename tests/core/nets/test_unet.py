"""The 2-D UNet: shapes for odd sizes, channels, residual identity."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.nets import UNet


def make(depth: int = 2, channels: int = 1, **kw) -> UNet:
    cfg = ModelConfig(depth=depth, base_channels=4, in_channels=channels,
                      out_channels=channels, **kw)
    return UNet(cfg).eval()


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("channels", [1, 3])
def test_cardinality(depth: int, batch_norm: bool, residual: bool, channels: int) -> None:
    net = make(depth, channels, batch_norm=batch_norm, residual=residual)
    x = torch.randn(2, channels, 37, 53)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@pytest.mark.parametrize(("h", "w"), [(8, 8), (16, 24), (9, 31), (64, 33)])
def test_cardinality_sizes(h: int, w: int) -> None:
    net = make(3)
    with torch.no_grad():
        assert net(torch.randn(1, 1, h, w)).shape == (1, 1, h, w)


def test_smoke_unet() -> None:
    net = UNet(ModelConfig())
    assert isinstance(net, UNet)
    assert net.config.divisor == 4
    assert sum(p.numel() for p in net.parameters()) > 0


@pytest.mark.parametrize("channels", [1, 3])
def test_residual_zero_head_is_identity(channels: int) -> None:
    net = make(2, channels, residual=True)
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        x = torch.randn(1, channels, 37, 53)
        assert torch.equal(net(x), x)


def test_plain_zero_head_is_zero() -> None:
    """Without the residual connection the same zero head outputs zeros (not the input)."""
    net = make(2, residual=False)
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        x = torch.randn(1, 1, 37, 53)
        assert torch.count_nonzero(net(x)) == 0


def test_output_depends_on_neighbourhood_only_locally() -> None:
    """A pixel far away (beyond the receptive field) does not change the output here."""
    net = make(1, residual=False)
    x = torch.randn(1, 1, 64, 64)
    x2 = x.clone()
    x2[0, 0, 63, 63] += 10.0
    with torch.no_grad():
        y, y2 = net(x), net(x2)
    assert torch.equal(y[..., :16, :16], y2[..., :16, :16])
    assert not torch.equal(y[..., 60:, 60:], y2[..., 60:, 60:])


def test_gradients_reach_every_parameter() -> None:
    net = make(2, batch_norm=True).train()
    x = torch.randn(2, 1, 16, 16)
    net(x).square().mean().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.any(p.grad != 0), f"no gradient for {name}"


def test_exception_residual_needs_equal_channels() -> None:
    with pytest.raises(ValueError, match="residual"):
        ModelConfig(residual=True, in_channels=1, out_channels=2)


@pytest.mark.parametrize("residual", [False, True])
def test_last_layer_runs_in_float32_under_autocast(residual: bool) -> None:
    """Mixed-precision inference must not round the output to half precision: the head
    runs outside autocast on float32 input, and the output is float32. (CPU autocast in
    bfloat16 stands in for CUDA's float16: no GPU here.)"""
    torch.manual_seed(0)
    net = UNet(ModelConfig(in_channels=1, out_channels=1, depth=2, base_channels=8,
                           residual=residual)).eval()
    seen = {}

    def hook(module, args, output):
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        seen["in"], seen["out"] = args[0].dtype, output.dtype

    net.head.register_forward_hook(hook)
    x = torch.rand(2, 1, 32, 32) * 1000
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = net(x)
        inner = net.bottom(torch.rand(1, 16, 8, 8))
    assert inner.dtype == torch.bfloat16, "autocast was not active in the test"
    assert seen == {"autocast": False, "in": torch.float32, "out": torch.float32}
    assert y.dtype == torch.float32
    if residual:  # the input added back in full precision, not rounded to 8 bits
        with torch.no_grad():
            net.head.weight.zero_()
            net.head.bias.zero_()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                same = net(x)
        assert torch.equal(same, x)
