"""Noise2Void blind-spot masking (Krull et al. 2019)."""

from __future__ import annotations

import torch

from .base import Masked


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror out-of-range indices back inside ``[0, size)`` (edge not repeated)."""
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= size, period - idx, idx)


class BlindSpotMasker:
    """Replace a random fraction of pixels by a random neighbour, never the pixel itself.

    Parameters
    ----------
    masked_fraction
        Fraction of pixels masked in every patch and channel (at least one pixel).
    radius
        Neighbours come from the ``(2r+1) x (2r+1)`` window around the pixel, centre excluded;
        windows crossing the patch border are mirrored, and an offset whose mirror image is the
        pixel itself is replaced by the opposite offset.
    hide
        ``(ey, ex)``: a structured blind spot (structN2V) for noise correlated over ``ey``
        pixels along Y and ``ex`` along X. Every pixel of the ``(2ey+1) x (2ex+1)`` block
        around a masked pixel is replaced by a random pixel from the window of half-size
        ``(ey + r, ex + r)`` outside the block; only the centre is scored.
    """

    def __init__(self, masked_fraction: float = 0.002, radius: int = 2,
                 hide: tuple[int, int] = (0, 0)) -> None:
        self.masked_fraction = masked_fraction
        self.radius = radius
        self.hide = (int(hide[0]), int(hide[1]))

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> Masked:
        """Mask ``batch`` of shape ``(B, C, Y, X)``."""
        b, c, h, w = batch.shape
        n = max(1, round(self.masked_fraction * h * w))
        planes = b * c
        flat = batch.reshape(planes, h * w)
        # n distinct positions per plane (random scores, top-n)
        scores = torch.rand(planes, h * w, generator=generator)
        pos = scores.topk(n, dim=1).indices  # (P, n)
        ys, xs = pos // w, pos % w
        if self.hide == (0, 0):
            src = self._pixel_sources(ys, xs, h, w, generator)
            targets = pos
        else:
            targets, src = self._block_sources(ys, xs, h, w, generator)
        net_input = flat.clone()
        net_input.scatter_(1, targets.to(batch.device), flat.gather(1, src.to(batch.device)))
        mask = torch.zeros(planes, h * w, dtype=batch.dtype, device=batch.device)
        mask.scatter_(1, pos.to(batch.device), 1.0)
        return Masked(net_input.reshape(b, c, h, w), mask.reshape(b, c, h, w))

    def _pixel_sources(self, ys, xs, h: int, w: int, generator) -> torch.Tensor:
        """Flat index of a random neighbour of each masked pixel (never the pixel itself)."""
        r = self.radius
        # offsets drawn from the window without its centre
        k = (2 * r + 1) ** 2 - 1
        choice = torch.randint(0, k, ys.shape, generator=generator)
        choice = choice + (choice >= k // 2).long()  # skip the centre index k//2
        dy = choice // (2 * r + 1) - r
        dx = choice % (2 * r + 1) - r
        ny, nx = _reflect(ys + dy, h), _reflect(xs + dx, w)
        # near a border the mirror image of an offset can be the pixel itself: mirror the offset
        itself = (ny == ys) & (nx == xs)
        ny = torch.where(itself, _reflect(ys - dy, h), ny)
        nx = torch.where(itself, _reflect(xs - dx, w), nx)
        return ny * w + nx

    def _block_sources(self, ys, xs, h: int, w: int, generator):
        """Flat indices of every block pixel and of a random outside pixel for each."""
        ey, ex = self.hide
        r = self.radius
        by, bx = torch.meshgrid(torch.arange(-ey, ey + 1), torch.arange(-ex, ex + 1),
                                indexing="ij")
        ty = _reflect(ys[..., None] + by.reshape(-1), h)  # (P, n, K)
        tx = _reflect(xs[..., None] + bx.reshape(-1), w)
        # random offsets in the (ey+r, ex+r) window, outside the block
        wy, wx = 2 * (ey + r) + 1, 2 * (ex + r) + 1
        oy, ox = torch.meshgrid(torch.arange(wy) - ey - r, torch.arange(wx) - ex - r,
                                indexing="ij")
        outside = (oy.abs() > ey) | (ox.abs() > ex)
        oy, ox = oy[outside], ox[outside]
        pick = torch.randint(0, oy.numel(), ty.shape, generator=generator)
        dy, dx = oy[pick], ox[pick]
        sy, sx = ys[..., None] + dy, xs[..., None] + dx
        # outside the patch: the opposite offset (also outside the block), not a mirror image,
        # which could fall inside the block near a border
        out = (sy < 0) | (sy >= h) | (sx < 0) | (sx >= w)
        sy = torch.where(out, ys[..., None] - dy, sy).clamp(0, h - 1)
        sx = torch.where(out, xs[..., None] - dx, sx).clamp(0, w - 1)
        planes = ys.shape[0]
        return (ty * w + tx).reshape(planes, -1), (sy * w + sx).reshape(planes, -1)
