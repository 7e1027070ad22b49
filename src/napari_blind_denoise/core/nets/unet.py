"""A small configurable UNet (Ronneberger et al. 2015) for blind-spot denoising, 2-D or 3-D.

Small is deliberate: on a CPU, many optimiser steps on a 16-channel, depth-2 net beat fewer
steps on a wider one within a fixed time budget (docs/benchmarks.md).

``config.dims == 3`` builds the same network from 3-D convolutions for ``(B, C, Z, Y, X)``
volumes; its first ``config.yx_levels`` pooling levels pool only Y and X (kernel
``(1, 2, 2)``), for voxels longer in Z than in Y/X (docs/methods.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig

_CONV = {2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def conv_block(c_in: int, c_out: int, batch_norm: bool, dims: int = 2) -> nn.Sequential:
    """Two 3x3 (3x3x3) convolutions, each followed by (optional BN and) LeakyReLU."""
    layers: list[nn.Module] = []
    for ci in (c_in, c_out):
        layers.append(_CONV[dims](ci, c_out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(_NORM[dims](c_out))
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


def network_dims(config: ModelConfig) -> int:
    """The spatial dimensions a network of ``config`` is built with (2 or 3; ``"auto"``
    not yet resolved builds a 2-D one)."""
    return 3 if config.dims == 3 else 2


def pooling_kernels(config: ModelConfig) -> list[tuple[int, ...]]:
    """Pooling kernel of each level, finest first: ``(2, 2)`` in 2-D; in 3-D ``(1, 2, 2)``
    for the first ``yx_levels`` levels, ``(2, 2, 2)`` below."""
    if network_dims(config) == 2:
        return [(2, 2)] * config.depth
    flat = config.yx_levels or 0
    return [(1, 2, 2) if i < flat else (2, 2, 2) for i in range(config.depth)]


def _pad_to(x: torch.Tensor, divisors: tuple[int, ...]) -> torch.Tensor:
    """Pad the trailing spatial axes of ``x`` at their end to multiples of ``divisors``
    (mirrored; repeated edge values where an axis is too short to mirror)."""
    sizes = x.shape[-len(divisors):]
    pads = [(-n) % d for n, d in zip(sizes, divisors, strict=True)]
    if not any(pads):
        return x
    flat: list[int] = []
    for p in reversed(pads):
        flat += [0, p]
    mode = "reflect" if all(p < n for p, n in zip(pads, sizes, strict=True)) else "replicate"
    return F.pad(x, flat, mode=mode)


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``(B, C, Y, X)`` in and out, or
    ``(B, C, Z, Y, X)`` for a 3-D network (``config.dims == 3``).

    The output is float32: the last 1x1 convolution runs outside autocast.

    Inputs whose Y/X (Z) are not a multiple of ``divisor`` (``z_divisor``) are padded and
    cropped back.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.dims = dims = network_dims(config)
        self.kernels = pooling_kernels(config)
        conv = _CONV[dims]
        ch = [config.base_channels * 2**i for i in range(config.depth + 1)]
        bn = config.batch_norm
        self.down = nn.ModuleList()
        c_prev = config.in_channels
        for c in ch[:-1]:
            self.down.append(conv_block(c_prev, c, bn, dims))
            c_prev = c
        self.bottom = conv_block(ch[-2], ch[-1], bn, dims)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(config.depth, 0, -1):
            self.up.append(conv(ch[i], ch[i - 1], 1))
            self.dec.append(conv_block(2 * ch[i - 1], ch[i - 1], bn, dims))
        self.head = conv(ch[0], config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of shape ``(B, C, Y, X)`` (3-D: ``(B, C, Z, Y, X)``)."""
        if x.dim() != self.dims + 2:
            raise ValueError(f"a {self.dims}-D UNet takes {self.dims + 2}-D batches, got shape "
                             f"{tuple(x.shape)}")
        sizes = x.shape[2:]
        d = self.config.divisor
        divisors = (d, d) if self.dims == 2 else (self.config.z_divisor, d, d)
        inp = _pad_to(x, divisors)
        pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
        skips = []
        y = inp
        for block, k in zip(self.down, self.kernels, strict=True):
            y = block(y)
            skips.append(y)
            y = pool(y, k)
        y = self.bottom(y)
        for up, dec, k in zip(self.up, self.dec, reversed(self.kernels), strict=True):
            y = F.interpolate(up(y), scale_factor=tuple(float(f) for f in k), mode="nearest")
            y = dec(torch.cat([y, skips.pop()], dim=1))
        # the last layer (and the residual sum) in float32 even under mixed precision: a
        # float16 output would round the denoised image to 11 significant bits
        with torch.autocast(device_type=y.device.type, enabled=False):
            y = self.head(y.float())
            if self.config.residual:
                y = y + inp.float()
        return y[(..., *(slice(0, n) for n in sizes))]


def build_unet(**kwargs) -> UNet:
    """A :class:`UNet` from the fields of a :class:`ModelConfig` (how an exported model
    package rebuilds the architecture of its ``pytorch_state_dict`` weights)."""
    return UNet(ModelConfig(**kwargs))
