"""A test-only method: the smallest architectural blind spot, written as a new method would be.

Its network is one 3x3 convolution whose centre tap is held at zero, so every output pixel is
a learned weighted mean of its eight neighbours and never sees its own noisy value: trained
on the plain noisy image, without a masker, it cannot learn the identity. It also declares
one extra output in a group of its own (``spread``: ``|noisy - denoised|``), which the CLI
offers as ``--spread-out`` and the viewer shows as a layer, with no code in either for it.

Registering it is the one line ``register(IdentityBlindSpot())``; nothing else is edited.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from napari_blind_denoise.core import ExtraOutput, Method


class NeighbourMean(nn.Module):
    """``(B, C, Y, X)`` -> learned 3x3 mean of each pixel's neighbours (centre tap zero)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((channels, 1, 3, 3), 1.0 / 8.0))
        centre = torch.ones(1, 1, 3, 3)
        centre[..., 1, 1] = 0.0
        self.register_buffer("keep", centre)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
        return F.conv2d(padded, self.weight * self.keep, groups=x.shape[1])


def _spread(ctx, out):
    """``|noisy - denoised|``, one plane at a time."""
    layout = ctx.layout
    for plane in layout.planes():
        rows, cols = slice(None), slice(None)
        diff = layout.read(ctx.noisy, plane, rows, cols) - layout.read(ctx.denoised, plane,
                                                                         rows, cols)
        layout.write(out, plane, rows, cols, abs(diff))
        yield None


class IdentityBlindSpot(Method):
    """Test-only method (see the module docstring)."""

    id = "ibs-test"
    name = "Identity blind spot (test only)"
    description = "A learned mean of the eight neighbours: the smallest built-in blind spot."

    def network(self, config):
        return NeighbourMean(config.model.in_channels)

    def outputs(self):
        return (ExtraOutput("spread", "image", "spread", "spread", _spread,
                            colormap="viridis"),)
