"""The 3-D UNet (``ModelConfig.dims=3``): shapes, pooling only in Y/X, refused shapes."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.nets import UNet
from napari_blind_denoise.core.nets.unet import pooling_kernels


def make(depth: int = 2, channels: int = 1, **kw) -> UNet:
    cfg = ModelConfig(depth=depth, base_channels=4, in_channels=channels,
                      out_channels=channels, dims=3, **kw)
    return UNet(cfg).eval()


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("residual", [False, True])
@pytest.mark.parametrize("channels", [1, 2])
def test_cardinality(depth: int, batch_norm: bool, residual: bool, channels: int) -> None:
    net = make(depth, channels, batch_norm=batch_norm, residual=residual)
    x = torch.randn(2, channels, 9, 21, 19)  # no size a multiple of the divisor
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("z", [1, 2, 3, 16])
def test_cardinality_shallow_stacks(z: int) -> None:
    """Z shorter than the divisor (too short to mirror) is padded by repeating its edge."""
    with torch.no_grad():
        assert make(2)(torch.randn(1, 1, z, 16, 16)).shape == (1, 1, z, 16, 16)


def test_weights_are_3d() -> None:
    convs = [m for m in make().modules() if isinstance(m, torch.nn.Conv3d)]
    assert convs and all(m.kernel_size in ((3, 3, 3), (1, 1, 1)) for m in convs)
    assert not any(isinstance(m, torch.nn.Conv2d) for m in make().modules())


def test_yx_levels_pool_only_in_y_and_x() -> None:
    cfg = ModelConfig(depth=3, dims=3, yx_levels=2)
    assert pooling_kernels(cfg) == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
    assert cfg.divisor == 8 and cfg.z_divisor == 2
    assert pooling_kernels(ModelConfig(depth=2)) == [(2, 2), (2, 2)]
    net = make(3, yx_levels=2)
    with torch.no_grad():
        assert net(torch.randn(1, 1, 6, 24, 24)).shape == (1, 1, 6, 24, 24)


def test_the_output_depends_on_neighbouring_planes() -> None:
    """A 3-D network: changing one plane changes the output of the planes next to it."""
    net = make()
    x = torch.randn(1, 1, 8, 16, 16)
    y = x.clone()
    y[0, 0, 4] += 1.0
    with torch.no_grad():
        diff = (net(x) - net(y)).abs()[0, 0].amax(dim=(1, 2))
    assert diff[3] > 0 and diff[5] > 0


def test_exception_wrong_rank() -> None:
    with pytest.raises(ValueError, match="3-D UNet takes 5-D"):
        make()(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="2-D UNet takes 4-D"):
        UNet(ModelConfig(base_channels=4))(torch.randn(1, 1, 4, 16, 16))


def test_exception_config() -> None:
    with pytest.raises(ValueError, match="dims"):
        ModelConfig(dims=4)
    with pytest.raises(ValueError, match="yx_levels"):
        ModelConfig(depth=2, yx_levels=3)
    assert ModelConfig(dims="3").dims == 3
    assert ModelConfig.from_dict({"depth": 2}).dims == 2  # models saved before: 2-D
