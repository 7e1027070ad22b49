"""Noise2Self J-invariant grid masking (Batson & Royer 2019), with structured blind spots.

A *blind spot* of half-extent ``hide = (ey, ex)`` hides the ``(2ey+1) x (2ex+1)`` block
around every grid point, for noise correlated over up to ``ey`` pixels along Y and ``ex``
along X. The block is filled with the mean of the ring of pixels just outside it, and the
grid spacing along each axis is at least ``2e+2``, so no input value the network sees
depends on the noise within a correlated distance of any scored pixel: J-invariance holds
for the correlated noise. ``hide = (0, 0)`` is the classic one-pixel mask (filled with the
mean of the four direct neighbours).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Masked

_CROSS = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])


def neighbour_mean(batch: torch.Tensor) -> torch.Tensor:
    """Mean of the four direct neighbours of every pixel (mirrored at borders), ``(B,C,Y,X)``."""
    c = batch.shape[1]
    kernel = _CROSS.to(batch).expand(c, 1, 3, 3)
    padded = F.pad(batch, (1, 1, 1, 1), mode="reflect")
    return F.conv2d(padded, kernel, groups=c)


def ring_mean(batch: torch.Tensor, hide: tuple[int, int]) -> torch.Tensor:
    """Mean of the ring just outside the ``(2ey+1) x (2ex+1)`` block around every pixel."""
    ey, ex = hide
    if ey == ex == 0:
        return neighbour_mean(batch)
    ring = torch.ones(2 * ey + 3, 2 * ex + 3, dtype=batch.dtype, device=batch.device)
    ring[1:-1, 1:-1] = 0.0
    c = batch.shape[1]
    pad = (ex + 1, ex + 1, ey + 1, ey + 1)
    # at the image border only the ring pixels inside the image count: mirroring would bring
    # pixels of the block itself back into its ring
    total = F.conv2d(F.pad(batch, pad), ring.expand(c, 1, *ring.shape), groups=c)
    ones = torch.ones_like(batch[:1, :1])
    count = F.conv2d(F.pad(ones, pad), ring[None, None])
    return total / count


def grid_mask(shape: tuple[int, int], period: int | tuple[int, int],
              phase: tuple[int, int]) -> torch.Tensor:
    """Boolean ``(Y, X)`` grid: True where ``y % py == phase_y`` and ``x % px == phase_x``."""
    py, px = (period, period) if isinstance(period, int) else period
    h, w = shape
    ys = torch.arange(h) % py == phase[0]
    xs = torch.arange(w) % px == phase[1]
    return ys[:, None] & xs[None, :]


def grow(mask: torch.Tensor, hide: tuple[int, int]) -> torch.Tensor:
    """``mask`` ``(Y, X)`` dilated to the ``(2ey+1) x (2ex+1)`` block around each pixel."""
    ey, ex = hide
    if ey == ex == 0:
        return mask
    m = mask[None, None].float()
    out = F.max_pool2d(m, (2 * ey + 1, 2 * ex + 1), stride=1, padding=(ey, ex))
    return out[0, 0] > 0


class GridMasker:
    """Mask one phase of a regular grid (random per batch), each grid point with its block.

    Parameters
    ----------
    period
        Grid spacing; raised along an axis to ``2e+2`` when the block needs it.
    hide
        ``(ey, ex)`` half-extent of the block hidden around each grid point.
    """

    def __init__(self, period: int = 4, hide: tuple[int, int] = (0, 0)) -> None:
        self.hide = (int(hide[0]), int(hide[1]))
        self.periods = (max(period, 2 * self.hide[0] + 2), max(period, 2 * self.hide[1] + 2))
        self.period = period

    @property
    def n_phases(self) -> int:
        """Number of distinct grid phases (``py * px``)."""
        return self.periods[0] * self.periods[1]

    def mask_phase(self, batch: torch.Tensor, phase: int) -> Masked:
        """Mask grid phase ``phase`` (0 .. n_phases-1) of ``batch`` (B, C, Y, X)."""
        py, px = divmod(phase, self.periods[1])
        centres = grid_mask(tuple(batch.shape[-2:]), self.periods, (py, px)).to(batch.device)
        hidden = grow(centres, self.hide)
        if hidden is centres:
            fill = ring_mean(batch, self.hide)
        else:  # every block pixel takes its centre's ring mean
            fill = _spread_from_centres(ring_mean(batch, self.hide), centres, self.hide)
        net_input = torch.where(hidden, fill, batch)
        mask = centres.to(batch.dtype).expand_as(batch)
        return Masked(net_input, mask)

    def predict_hidden(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """``model``'s output at every pixel of ``batch`` (B, C, Y, X) computed while that
        pixel (and its block) was masked: one pass per grid phase, so the result is
        J-invariant."""
        out = torch.zeros_like(batch, dtype=torch.float32)
        for phase in range(self.n_phases):
            m = self.mask_phase(batch, phase)
            out = out + model(m.input).float() * m.mask
        return out

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> Masked:
        """Mask one random phase of the grid, the same phase for the whole batch."""
        phase = int(torch.randint(0, self.n_phases, (1,), generator=generator))
        return self.mask_phase(batch, phase)


def _spread_from_centres(values: torch.Tensor, centres: torch.Tensor,
                         hide: tuple[int, int]) -> torch.Tensor:
    """Each pixel of a centre's block gets ``values`` at that centre (blocks never overlap
    when the grid spacing is at least ``2e+1``)."""
    ey, ex = hide
    kept = values * centres.to(values.dtype)
    c = values.shape[1]
    box = torch.ones(c, 1, 2 * ey + 1, 2 * ex + 1, dtype=values.dtype, device=values.device)
    return F.conv2d(F.pad(kept, (ex, ex, ey, ey)), box, groups=c)
