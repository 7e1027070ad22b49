"""Blind-spot masking of ``(B, C, Z, Y, X)`` volumes for 3-D networks.

The 3-D analogues of :mod:`.n2v` and :mod:`.n2s`: Noise2Void replaces random voxels by a
random voxel of their ``(2r+1)^3`` neighbourhood (never the voxel itself); Noise2Self masks
one phase of a 3-D grid, each masked voxel replaced by the mean of its 6 direct neighbours.

A structured blind spot (``hide = (ey, ex)``, from the noise correlation measured within
planes) hides the ``1 x (2ey+1) x (2ex+1)`` block around every masked voxel: the block
keeps its Y/X shape and is one plane deep, since the correlation is measured within planes
(noise of separate planes, separate exposures, is taken as independent).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import Masked
from .n2s import GridMasker
from .n2v import BlindSpotMasker

Z_PERIOD = 4  # the largest Z spacing of the Noise2Self grid


def _offsets(ey: int, ex: int, r: int) -> torch.Tensor:
    """``(K, 3)`` offsets of the ``(2r+1) x (2(ey+r)+1) x (2(ex+r)+1)`` window outside the
    ``1 x (2ey+1) x (2ex+1)`` block."""
    grids = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-ey - r, ey + r + 1),
                           torch.arange(-ex - r, ex + r + 1), indexing="ij")
    oz, oy, ox = (g.reshape(-1) for g in grids)
    outside = (oz != 0) | (oy.abs() > ey) | (ox.abs() > ex)
    return torch.stack([oz[outside], oy[outside], ox[outside]], dim=1)


class VolumeBlindSpotMasker(BlindSpotMasker):
    """Noise2Void for volumes: a random fraction of voxels replaced by a random neighbour.

    Parameters
    ----------
    masked_fraction
        Fraction of voxels masked in every window and channel (at least one).
    radius
        Neighbours come from the ``(2r+1)^3`` window around the voxel, centre excluded (with
        a block: the window widened by the block in Y and X, the block excluded). A
        neighbour outside the window's volume is replaced by the opposite offset.
    hide
        ``(ey, ex)``: every voxel of the ``1 x (2ey+1) x (2ex+1)`` block around a masked
        voxel is replaced by a random voxel outside the block; only the centre is scored.
    """

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> Masked:
        """Mask ``batch`` of shape ``(B, C, Z, Y, X)``."""
        b, c, d, h, w = batch.shape
        size = (d, h, w)
        n = max(1, round(self.masked_fraction * d * h * w))
        planes = b * c
        flat = batch.reshape(planes, d * h * w)
        pos = torch.rand(planes, d * h * w, generator=generator).topk(n, dim=1).indices
        centre = torch.stack([pos // (h * w), pos // w % h, pos % w], dim=-1)  # (P, n, 3)
        ey, ex = self.hide
        bz, by, bx = torch.meshgrid(torch.zeros(1, dtype=torch.long), torch.arange(-ey, ey + 1),
                                    torch.arange(-ex, ex + 1), indexing="ij")
        block = torch.stack([bz.reshape(-1), by.reshape(-1), bx.reshape(-1)], dim=1)
        targets = centre[:, :, None] + block  # (P, n, K, 3), mirrored at the border
        targets = torch.stack([_reflect(targets[..., i], size[i]) for i in range(3)], -1)
        offsets = _offsets(ey, ex, self.radius)
        pick = torch.randint(0, offsets.shape[0], targets.shape[:-1], generator=generator)
        off = offsets[pick]
        src = centre[:, :, None] + off
        # outside the volume: the opposite offset (also outside the block)
        limits = torch.tensor(size)
        out = ((src < 0) | (src >= limits)).any(-1, keepdim=True)
        src = torch.where(out, centre[:, :, None] - off, src)
        src = torch.minimum(src.clamp(min=0), limits - 1)
        net_input = flat.clone()
        net_input.scatter_(1, _ravel(targets, size).reshape(planes, -1).to(batch.device),
                           flat.gather(1, _ravel(src, size).reshape(planes, -1).to(batch.device)))
        mask = torch.zeros(planes, d * h * w, dtype=batch.dtype, device=batch.device)
        mask.scatter_(1, pos.to(batch.device), 1.0)
        return Masked(net_input.reshape(batch.shape), mask.reshape(batch.shape))


def _reflect(idx: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror out-of-range indices back inside ``[0, size)`` (edge not repeated)."""
    if size == 1:
        return torch.zeros_like(idx)
    period = 2 * (size - 1)
    idx = torch.remainder(idx, period)
    return torch.where(idx >= size, period - idx, idx)


def _ravel(coords: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Flat indices of ``(..., 3)`` coordinates in a ``size`` volume."""
    _, h, w = size
    return (coords[..., 0] * h + coords[..., 1]) * w + coords[..., 2]


def volume_ring_mean(batch: torch.Tensor, hide: tuple[int, int]) -> torch.Tensor:
    """``(B, C, Z, Y, X)``: the mean of the 6 direct neighbours of every voxel (mirrored at
    borders); with a block ``hide = (ey, ex)``, of the voxels within one step of the
    ``1 x (2ey+1) x (2ex+1)`` block, outside it (only those inside the volume count)."""
    c = batch.shape[1]
    ey, ex = hide
    if ey == ex == 0 and min(batch.shape[2:]) > 1:
        kernel = torch.zeros(3, 3, 3, dtype=batch.dtype, device=batch.device)
        kernel[0, 1, 1] = kernel[2, 1, 1] = kernel[1, 0, 1] = kernel[1, 2, 1] = 1 / 6
        kernel[1, 1, 0] = kernel[1, 1, 2] = 1 / 6
        padded = F.pad(batch, (1, 1, 1, 1, 1, 1), mode="reflect")
        return F.conv3d(padded, kernel.expand(c, 1, 3, 3, 3), groups=c)
    ring = torch.ones(3, 2 * ey + 3, 2 * ex + 3, dtype=batch.dtype, device=batch.device)
    ring[1, 1:-1, 1:-1] = 0.0
    if ey == ex == 0:  # too thin to mirror: the 6 direct neighbours inside the volume
        ring = torch.zeros_like(ring)
        ring[0, 1, 1] = ring[2, 1, 1] = ring[1, 0, 1] = ring[1, 2, 1] = 1.0
        ring[1, 1, 0] = ring[1, 1, 2] = 1.0
    pad = (ex + 1, ex + 1, ey + 1, ey + 1, 1, 1)
    total = F.conv3d(F.pad(batch, pad), ring.expand(c, 1, *ring.shape), groups=c)
    count = F.conv3d(F.pad(torch.ones_like(batch[:1, :1]), pad), ring[None, None])
    return total / count


class VolumeGridMasker(GridMasker):
    """Noise2Self for volumes: one phase of a regular 3-D grid (random per batch) masked,
    each grid voxel with its block, filled with :func:`volume_ring_mean`.

    Parameters
    ----------
    period
        Grid spacing in Y and X (raised to ``2e+2`` when the block needs it); in Z
        ``min(period, Z_PERIOD)`` (the block is one plane deep).
    hide
        ``(ey, ex)`` half-extent of the block in Y and X.
    """

    def __init__(self, period: int = 4, hide: tuple[int, int] = (0, 0)) -> None:
        self.hide = (int(hide[0]), int(hide[1]))
        self.period = period
        self.periods = (min(period, Z_PERIOD), max(period, 2 * self.hide[0] + 2),
                        max(period, 2 * self.hide[1] + 2))

    @property
    def n_phases(self) -> int:
        """Number of distinct grid phases (``pz * py * px``)."""
        pz, py, px = self.periods
        return pz * py * px

    def centres(self, shape: tuple[int, int, int], phase: int) -> torch.Tensor:
        """Boolean ``(Z, Y, X)`` grid of phase ``phase``."""
        pz, py, px = self.periods
        qz, rest = divmod(phase, py * px)
        qy, qx = divmod(rest, px)
        d, h, w = shape
        zs = torch.arange(d) % pz == qz
        ys = torch.arange(h) % py == qy
        xs = torch.arange(w) % px == qx
        return zs[:, None, None] & ys[None, :, None] & xs[None, None, :]

    def mask_phase(self, batch: torch.Tensor, phase: int) -> Masked:
        """Mask grid phase ``phase`` (0 .. n_phases-1) of ``batch`` (B, C, Z, Y, X)."""
        centres = self.centres(tuple(batch.shape[-3:]), phase).to(batch.device)
        fill = volume_ring_mean(batch, self.hide)
        ey, ex = self.hide
        if (ey, ex) == (0, 0):
            hidden = centres
        else:  # every block voxel takes its centre's ring mean
            k = (1, 2 * ey + 1, 2 * ex + 1)
            hidden = F.max_pool3d(centres[None, None].float(), k, stride=1,
                                  padding=(0, ey, ex))[0, 0] > 0
            kept = fill * centres.to(fill.dtype)
            box = torch.ones(batch.shape[1], 1, *k, dtype=fill.dtype, device=fill.device)
            fill = F.conv3d(F.pad(kept, (ex, ex, ey, ey)), box, groups=batch.shape[1])
        net_input = torch.where(hidden, fill, batch)
        return Masked(net_input, centres.to(batch.dtype).expand_as(batch))
