"""The N-net is pixel-wise: a volume ``(B, C, Z, Y, X)`` gives, voxel by voxel, what its
planes give as images."""

from __future__ import annotations

import torch

from napari_blind_denoise.core import NoiseModelConfig
from napari_blind_denoise.core.nets import NoiseNet


def test_volume_equals_its_planes() -> None:
    torch.manual_seed(0)
    net = NoiseNet(2, NoiseModelConfig(kind="gmm2")).eval()
    volume = torch.rand(3, 2, 4, 5, 6)
    with torch.no_grad():
        mix = net(volume)
        for z in range(volume.shape[2]):
            plane = net(volume[:, :, z])
            for a, b in zip(mix, plane, strict=True):
                assert a.shape == (3, 2, 2, 4, 5, 6)
                torch.testing.assert_close(a[..., z, :, :], b)
    assert mix.total_std().shape == volume.shape
