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
    """

    def __init__(self, masked_fraction: float = 0.002, radius: int = 2) -> None:
        self.masked_fraction = masked_fraction
        self.radius = radius

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
        r = self.radius
        # offsets drawn from the window without its centre
        k = (2 * r + 1) ** 2 - 1
        choice = torch.randint(0, k, (planes, n), generator=generator)
        choice = choice + (choice >= k // 2).long()  # skip the centre index k//2
        dy = choice // (2 * r + 1) - r
        dx = choice % (2 * r + 1) - r
        ny, nx = _reflect(ys + dy, h), _reflect(xs + dx, w)
        # near a border the mirror image of an offset can be the pixel itself: mirror the offset
        itself = (ny == ys) & (nx == xs)
        ny = torch.where(itself, _reflect(ys - dy, h), ny)
        nx = torch.where(itself, _reflect(xs - dx, w), nx)
        src = (ny * w + nx).to(batch.device)
        pos = pos.to(batch.device)
        net_input = flat.clone()
        net_input.scatter_(1, pos, flat.gather(1, src))
        mask = torch.zeros(planes, h * w, dtype=batch.dtype, device=batch.device)
        mask.scatter_(1, pos, 1.0)
        return Masked(net_input.reshape(b, c, h, w), mask.reshape(b, c, h, w))
