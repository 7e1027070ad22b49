"""Partial convolutions and the Self2Self network: masked inputs are ignored, windows are
re-normalised by their count of valid inputs, the mask propagates."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.nets import PartialConv2d, Self2SelfNet


def _mask(shape, keep: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < keep).float()


@pytest.mark.parametrize("mask_channels", [1, 3])
def test_ignores_masked_inputs(mask_channels: int) -> None:
    torch.manual_seed(0)
    conv = PartialConv2d(3, 5)
    x = torch.randn(2, 3, 20, 24)
    mask = _mask((2, mask_channels, 20, 24), 0.5, 1)
    y, m = conv(x, mask)
    changed = torch.where(mask.expand_as(x) > 0, x, torch.randn_like(x) * 100.0)
    y2, m2 = conv(changed, mask)
    torch.testing.assert_close(y2, y)
    torch.testing.assert_close(m2, m)
    # a kept input does change the output
    mask[0, :, 10, 12] = 1.0
    y, _ = conv(x, mask)
    x[0, :, 10, 12] += 5.0
    assert not torch.allclose(conv(x, mask)[0], y)


def test_renormalises_by_valid_count() -> None:
    conv = PartialConv2d(2, 1)
    with torch.no_grad():
        conv.conv.weight.fill_(0.25)
        conv.bias.fill_(0.5)
    ones = torch.ones(1, 2, 30, 30)
    mask = _mask((1, 1, 30, 30), 0.3, 2)
    y, new_mask = conv(ones, mask)
    plain = F.conv2d(ones, conv.conv.weight, conv.bias, padding=1)
    # interior windows with any valid input: exactly the unmasked convolution of ones
    valid = new_mask[0, 0, 1:-1, 1:-1] > 0
    assert valid.float().mean() > 0.9
    torch.testing.assert_close(y[0, 0, 1:-1, 1:-1][valid], plain[0, 0, 1:-1, 1:-1][valid])
    # windows without any valid input: zero output, invalid in the new mask
    empty = F.conv2d(mask, torch.ones(1, 1, 3, 3), padding=1) == 0
    torch.testing.assert_close(new_mask, (~empty).float())
    assert (y[empty.expand_as(y)] == 0).all()


def test_renormalisation_with_random_weights() -> None:
    torch.manual_seed(3)
    conv = PartialConv2d(1, 2)
    x = torch.randn(1, 1, 9, 9)
    mask = _mask((1, 1, 9, 9), 0.6, 4)
    y, _ = conv(x, mask)
    i, j = 4, 5  # an interior pixel: its 3x3 window by hand
    win, wm = x[0, 0, i - 1:i + 2, j - 1:j + 2], mask[0, 0, i - 1:i + 2, j - 1:j + 2]
    for o in range(2):
        expect = (conv.conv.weight[o, 0] * win * wm).sum() * 9 / wm.sum() + conv.bias[o]
        torch.testing.assert_close(y[0, o, i, j], expect)


def _net(depth: int = 3, channels: int = 1) -> Self2SelfNet:
    torch.manual_seed(0)
    return Self2SelfNet(ModelConfig(depth=depth, base_channels=6, in_channels=channels,
                                    out_channels=channels), dropout=0.3).eval()


@pytest.mark.parametrize("depth", [1, 3, 5])
@pytest.mark.parametrize("channels", [1, 2])
def test_network_shapes_any_size(depth: int, channels: int) -> None:
    net = _net(depth, channels)
    x = torch.randn(2, channels, 37, 53)
    x[:, :, ::3, ::2] = float("nan")
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_network_never_sees_unknown_pixels() -> None:
    net = _net()
    x = torch.randn(1, 1, 32, 32)
    x[_mask(x.shape, 0.3, 5) > 0] = float("nan")
    other = torch.where(torch.isfinite(x), x, torch.full_like(x, float("nan")))
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(other))
        assert not torch.allclose(net(x), net(torch.nan_to_num(x, nan=3.0)))


def test_stochastic_passes_follow_the_generator() -> None:
    net = _net()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        a = net(x, generator=torch.Generator().manual_seed(1))
        b = net(x, generator=torch.Generator().manual_seed(1))
        c = net(x, generator=torch.Generator().manual_seed(2))
        plain = net(x)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)  # dropout on in eval mode when a generator is given
    torch.testing.assert_close(plain, net(x))  # and off without one
