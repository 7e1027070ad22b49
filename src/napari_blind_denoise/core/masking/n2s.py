"""Noise2Self J-invariant grid masking (Batson & Royer 2019)."""

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


def grid_mask(shape: tuple[int, int], period: int, phase: tuple[int, int]) -> torch.Tensor:
    """Boolean ``(Y, X)`` grid: True where ``y % period == py`` and ``x % period == px``."""
    h, w = shape
    ys = torch.arange(h) % period == phase[0]
    xs = torch.arange(w) % period == phase[1]
    return ys[:, None] & xs[None, :]


class GridMasker:
    """Mask one phase of a regular grid (random per batch); fill with the neighbour mean.

    The replacement depends only on unmasked pixels (the grid period is at least 2), so the
    network's output at masked pixels is independent of their noisy values: J-invariance.
    """

    def __init__(self, period: int = 4) -> None:
        self.period = period

    @property
    def n_phases(self) -> int:
        """Number of distinct grid phases (``period**2``)."""
        return self.period**2

    def mask_phase(self, batch: torch.Tensor, phase: int) -> Masked:
        """Mask grid phase ``phase`` (0 .. n_phases-1) of ``batch`` (B, C, Y, X)."""
        py, px = divmod(phase, self.period)
        m = grid_mask(tuple(batch.shape[-2:]), self.period, (py, px)).to(batch.device)
        net_input = torch.where(m, neighbour_mean(batch), batch)
        mask = m.to(batch.dtype).expand_as(batch)
        return Masked(net_input, mask)

    def predict_hidden(self, model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
        """``model``'s output at every pixel of ``batch`` (B, C, Y, X) computed while that
        pixel was masked: one pass per grid phase, so the result is J-invariant."""
        out = torch.zeros_like(batch, dtype=torch.float32)
        for phase in range(self.n_phases):
            m = self.mask_phase(batch, phase)
            out = out + model(m.input).float() * m.mask
        return out

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> Masked:
        """Mask one random phase of the grid, the same phase for the whole batch."""
        phase = int(torch.randint(0, self.n_phases, (1,), generator=generator))
        return self.mask_phase(batch, phase)
