"""Partial convolutions (Liu et al. 2018) and the Self2Self network (Quan et al. 2020).

A partial convolution sees only the valid inputs of each window: it convolves ``x * mask``,
scales the result by ``sum(1) / sum(mask)`` over the window (the window's size over its
count of valid inputs), adds the bias, and outputs zero where no input was valid. The
updated mask (valid where any input was) goes on to the next layer.

The Self2Self network takes the noisy image with its unknown pixels (dropped by the
Bernoulli sampling, or known to be corrupted) set to NaN: the validity mask is where the
input is finite, so ``forward(x)`` keeps the one-tensor signature every network here has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig


class PartialConv2d(nn.Module):
    """``(x, mask) -> (y, new_mask)``: a ``k x k`` convolution of the valid inputs only.

    ``x`` is ``(B, C_in, Y, X)``; ``mask`` is ``(B, 1, Y, X)`` (one mask for every channel)
    or ``(B, C_in, Y, X)``, 1 where valid. Padding is zero and counts as invalid, so border
    windows are re-normalised too. ``new_mask`` is ``(B, 1, Y, X)``.
    """

    def __init__(self, c_in: int, c_out: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, padding=kernel_size // 2, bias=False)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.c_in = c_in
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor, mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Convolve the valid inputs; see the class docstring."""
        k = self.kernel_size
        with torch.no_grad():
            ones = torch.ones(1, mask.shape[1], k, k, device=mask.device, dtype=torch.float32)
            count = F.conv2d(mask.float(), ones, padding=k // 2)
            window = float(mask.shape[1] * k * k)
            valid = (count > 0.5).float()
            ratio = window / count.clamp_min(1.0) * valid
        y = self.conv(x * mask.to(x.dtype))
        y = y * ratio.to(y.dtype) + self.bias.view(1, -1, 1, 1).to(y.dtype)
        return y * valid.to(y.dtype), valid


def _decoder_conv(c_in: int, c_out: int) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, 3, padding=1)


class Self2SelfNet(nn.Module):
    """The Self2Self encoder-decoder; ``(B, C, Y, X)`` in (NaN = unknown pixel) and out.

    Encoder: a partial convolution to ``w = base_channels`` channels, then ``depth + 1``
    blocks of partial convolution and LeakyReLU(0.1), the first ``depth`` followed by 2x2
    max pooling (of the features and of the mask); ``w`` channels throughout. Decoder:
    ``depth - 1`` blocks of x2 upsampling, concatenation with the encoder features of that
    scale and two 3x3 convolutions of ``2w`` channels with LeakyReLU, then a last block that
    upsamples, concatenates the (masked) input and applies convolutions of ``4w/3``, ``2w/3``
    and ``C`` channels. Every decoder convolution sees its input through dropout. The paper:
    ``depth = 5``, ``w = 48`` (so 96, 64 and 32 channels in the decoder).

    ``forward(x, generator=...)`` draws dropout from ``generator`` even in ``eval`` mode:
    the stochastic passes of the prediction ensemble, reproducible from a seed.
    """

    def __init__(self, config: ModelConfig, dropout: float) -> None:
        super().__init__()
        self.config = config
        w, c = config.base_channels, config.in_channels
        self.p = dropout
        self.act = nn.LeakyReLU(0.1)
        self.first = PartialConv2d(c, w)
        self.encoder = nn.ModuleList(PartialConv2d(w, w) for _ in range(config.depth + 1))
        self.decoder = nn.ModuleList()
        c_below = w
        for _ in range(config.depth - 1):
            self.decoder.append(nn.ModuleList([_decoder_conv(c_below + w, 2 * w),
                                               _decoder_conv(2 * w, 2 * w)]))
            c_below = 2 * w
        wide, narrow = max(1, round(4 * w / 3)), max(1, round(2 * w / 3))
        self.last = nn.ModuleList([_decoder_conv(c_below + c, wide),
                                   _decoder_conv(wide, narrow),
                                   _decoder_conv(narrow, config.out_channels)])

    def _drop(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return F.dropout(x, self.p, self.training)
        if self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.p
        return x * keep.to(x.dtype) / (1.0 - self.p)

    def _encode(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, list]:
        y, m = self.first(x, mask)
        y = self.act(y)
        skips = []
        for i, conv in enumerate(self.encoder):
            y, m = conv(y, m)
            y = self.act(y)
            if i < self.config.depth:
                y, m = F.max_pool2d(y, 2), F.max_pool2d(m, 2)
                skips.append(y)
        return y, skips[:-1]

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None
                ) -> torch.Tensor:
        """Denoise ``x`` ``(B, C, Y, X)`` whose unknown pixels are NaN."""
        h, w = x.shape[-2:]
        d = self.config.divisor
        ph, pw = (-h) % d, (-w) % d
        if ph or pw:  # padding is unknown, like a dropped pixel
            x = F.pad(x, (0, pw, 0, ph), value=float("nan"))
        mask = torch.isfinite(x)
        inp = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))
        y, skips = self._encode(inp, mask.to(inp.dtype))
        for convs in self.decoder:
            y = torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), skips.pop()], 1)
            for conv in convs:
                y = self.act(conv(self._drop(y, generator)))
        y = torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), inp], 1)
        for i, conv in enumerate(self.last):
            y = conv(self._drop(y, generator))
            if i < len(self.last) - 1:
                y = self.act(y)
        return y[..., :h, :w]
