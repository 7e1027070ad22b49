"""A small configurable 2-D UNet (Ronneberger et al. 2015) for blind-spot denoising.

Small is deliberate: on a CPU, many optimiser steps on a 16-channel, depth-2 net beat fewer
steps on a wider one within a fixed time budget (docs/benchmarks.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig


def conv_block(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by (optional BN and) LeakyReLU."""
    layers: list[nn.Module] = []
    for ci in (c_in, c_out):
        layers.append(nn.Conv2d(ci, c_out, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.LeakyReLU(0.1, inplace=True))
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """Encoder-decoder with skip connections; ``(B, C, Y, X)`` in and out.

    The output is float32: the last 1x1 convolution runs outside autocast.

    Inputs whose Y/X are not a multiple of ``2**depth`` are mirror-padded and cropped back.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        ch = [config.base_channels * 2**i for i in range(config.depth + 1)]
        bn = config.batch_norm
        self.down = nn.ModuleList()
        c_prev = config.in_channels
        for c in ch[:-1]:
            self.down.append(conv_block(c_prev, c, bn))
            c_prev = c
        self.bottom = conv_block(ch[-2], ch[-1], bn)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for i in range(config.depth, 0, -1):
            self.up.append(nn.Conv2d(ch[i], ch[i - 1], 1))
            self.dec.append(conv_block(2 * ch[i - 1], ch[i - 1], bn))
        self.head = nn.Conv2d(ch[0], config.out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` of shape ``(B, C, Y, X)``."""
        h, w = x.shape[-2:]
        d = self.config.divisor
        ph, pw = (-h) % d, (-w) % d
        inp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        skips = []
        y = inp
        for block in self.down:
            y = block(y)
            skips.append(y)
            y = F.max_pool2d(y, 2)
        y = self.bottom(y)
        for up, dec in zip(self.up, self.dec, strict=True):
            y = F.interpolate(up(y), scale_factor=2.0, mode="nearest")
            y = dec(torch.cat([y, skips.pop()], dim=1))
        # the last layer (and the residual sum) in float32 even under mixed precision: a
        # float16 output would round the denoised image to 11 significant bits
        with torch.autocast(device_type=y.device.type, enabled=False):
            y = self.head(y.float())
            if self.config.residual:
                y = y + inp.float()
        return y[..., :h, :w]


def build_unet(**kwargs) -> UNet:
    """A :class:`UNet` from the fields of a :class:`ModelConfig` (how an exported model
    package rebuilds the architecture of its ``pytorch_state_dict`` weights)."""
    return UNet(ModelConfig(**kwargs))
