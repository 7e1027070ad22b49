"""The blind-spot network (bsn): the blind spot is exact, by gradients, at the centre, the
borders and the corners, with the four rotations; half-plane causality of the shared UNet;
the parametric noise model; several channels: the prior's Cholesky factor, the blind spot
across channels."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.config import ModelConfig, NoiseModelConfig
from napari_blind_denoise.core.nets import BlindSpotNet, HalfPlaneUNet, ParametricNoise
from napari_blind_denoise.core.nets.blindspot_net import MIN_VARIANCE

H, W = 20, 24  # not square, not a multiple of 2**depth: the padding path too
POSITIONS = [(0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1), (10, 11), (5, 0), (0, 7)]


def _grad_map(net: BlindSpotNet, x: torch.Tensor, i: int, j: int) -> torch.Tensor:
    """|d output(i, j) / d input| for the prior mean plus the prior variance."""
    x = x.clone().requires_grad_(True)
    prior = net.prior(x)
    (grad,) = torch.autograd.grad(prior.mean[0, 0, i, j] + prior.variance[0, 0, i, j], x)
    return grad[0, 0].abs()


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    return torch.randn(1, 1, H, W, generator=torch.Generator().manual_seed(1),
                       dtype=torch.float64)


@pytest.mark.parametrize("hide", [(0, 0), (1, 2)])
def test_blind_spot_is_exact(inputs: torch.Tensor, hide: tuple[int, int]) -> None:
    torch.manual_seed(0)
    net = BlindSpotNet(ModelConfig(depth=2, base_channels=4), hide).double()
    ey, ex = hide
    for i, j in POSITIONS:
        g = _grad_map(net, inputs, i, j)
        block = g[max(0, i - ey):i + ey + 1, max(0, j - ex):j + ex + 1]
        assert g[i, j] == 0 and (block == 0).all(), f"{(i, j)} sees its own (hidden) pixels"
        # the nearest pixels just outside the hidden block, on each side, are seen
        for di, dj in ((-ey - 1, 0), (ey + 1, 0), (0, -ex - 1), (0, ex + 1), (-ey - 1, ex + 1)):
            y, x = i + di, j + dj
            if 0 <= y < H and 0 <= x < W:
                assert g[y, x] > 0, f"{(i, j)} does not see {(y, x)}"
        seen = int((g > 0).sum())
        assert seen == H * W - block.numel(), f"{(i, j)}: sees {seen} pixels"


def test_each_rotation_is_needed(inputs: torch.Tensor) -> None:
    """The shared UNet alone sees only rows at or above; the four rotations add the rest."""
    torch.manual_seed(0)
    unet = HalfPlaneUNet(ModelConfig(depth=2, base_channels=4)).double()
    x = torch.randn(1, 1, 24, 24, dtype=torch.float64, requires_grad=True)
    for i, j in ((0, 0), (11, 12), (23, 23), (8, 0)):
        (g,) = torch.autograd.grad(unet(x)[0, :, i, j].sum(), x)
        g = g[0, 0].abs()
        assert (g[i + 1:] == 0).all(), f"{(i, j)} sees rows below"
        assert g[i, j] > 0 and (i == 0 or g[i - 1, j] > 0)


def test_shapes_and_positive_variance() -> None:
    net = BlindSpotNet(ModelConfig(depth=2, base_channels=4)).eval()
    with torch.no_grad():
        prior = net.prior(torch.rand(3, 1, 17, 33))
    assert prior.mean.shape == prior.variance.shape == (3, 1, 17, 33)
    assert (prior.variance > 0).all()


@pytest.mark.parametrize("c", [2, 3])
def test_several_channels_prior_has_a_cholesky_factor(c: int) -> None:
    """``C`` means and ``C (C + 1) / 2`` factor entries per pixel; the factor is lower
    triangular with a diagonal at least ``sqrt(MIN_VARIANCE)``, the variance is the
    diagonal of ``L L^T``; the covariance starts diagonal at the one-channel start."""
    torch.manual_seed(0)
    net = BlindSpotNet(ModelConfig(depth=2, base_channels=4, in_channels=c, out_channels=c))
    assert net.head[-1].out_channels == c + c * (c + 1) // 2
    with torch.no_grad():
        start = net.prior(torch.rand(2, c, 17, 20))
        for p in net.head[-1].parameters():  # off the start: non-zero lower entries
            p.add_(torch.randn_like(p))
        prior = net.prior(torch.rand(2, c, 17, 20))
    assert prior.mean.shape == prior.variance.shape == (2, c, 17, 20)
    tril = prior.scale_tril
    assert tril.shape == (2, 17, 20, c, c)
    assert (tril.triu(1) == 0).all() and (tril.tril(-1) != 0).any()
    assert (tril.diagonal(dim1=-2, dim2=-1) >= MIN_VARIANCE ** 0.5).all()
    torch.testing.assert_close(prior.variance.permute(0, 2, 3, 1),
                               (tril @ tril.mT).diagonal(dim1=-2, dim2=-1))
    # the start: std PRIOR_INIT_STD per channel, nearly no covariance between channels
    torch.testing.assert_close(start.variance.sqrt(), torch.full_like(start.variance, 0.03),
                               rtol=0.05, atol=0)
    lower = start.scale_tril.tril(-1).abs().amax(dim=-1)
    assert (lower < 0.05 * start.scale_tril.diagonal(dim1=-2, dim2=-1)).all()
    with pytest.raises(ValueError, match="in_channels 2 != out_channels 1"):
        BlindSpotNet(ModelConfig(in_channels=2, out_channels=1))


def test_blind_spot_is_exact_across_channels() -> None:
    """With two channels no output at a pixel (means, factor) sees any channel of that
    pixel, and every other pixel of both channels is seen."""
    torch.manual_seed(0)
    net = BlindSpotNet(ModelConfig(depth=2, base_channels=4, in_channels=2,
                                   out_channels=2)).double()
    x = torch.randn(1, 2, H, W, generator=torch.Generator().manual_seed(2),
                    dtype=torch.float64, requires_grad=True)
    for i, j in ((0, 0), (10, 11), (H - 1, W - 1)):
        prior = net.prior(x)
        out = prior.mean[0, :, i, j].sum() + prior.scale_tril[0, i, j].sum()
        (g,) = torch.autograd.grad(out, x)
        g = g[0].abs()
        assert (g[:, i, j] == 0).all()
        assert int((g > 0).sum()) == 2 * (H * W - 1)


def test_parametric_noise() -> None:
    pg = ParametricNoise(1, NoiseModelConfig(kind="poisson-gaussian"))
    with torch.no_grad():
        pg.raw_a.fill_(0.0)  # softplus(0) = log 2
        pg.raw_b.fill_(-2.0)
    a, b = pg.params()
    s = torch.tensor([0.0, 0.5, 1.0]).view(1, 1, 1, 3)
    torch.testing.assert_close(pg.variance(s), a * s + b)
    mix = pg(s)
    assert mix.stds.shape == (1, 1, 1, 1, 3)
    torch.testing.assert_close(mix.total_std(), pg.variance(s).sqrt())
    gauss = ParametricNoise(1, NoiseModelConfig(kind="gaussian"))
    assert float(gauss.params()[0]) == 0.0 and not gauss.raw_a.requires_grad
    torch.testing.assert_close(gauss.variance(s), gauss.variance(s * 0 + 7))
    with pytest.raises(ValueError, match="bsn noise model must be one of"):
        ParametricNoise(1, NoiseModelConfig(kind="gmm2"))
