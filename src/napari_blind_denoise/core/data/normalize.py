"""Percentile normalisation with stored statistics, inverted on output."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .axes import Layout


@dataclass(frozen=True, kw_only=True)
class NormStats:
    """Per-channel offsets and scales: ``normalised = (x - low) / (high - low)``.

    ``dtype`` is the input's dtype name; outputs are clipped to its range when it is an integer.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    dtype: str = "float32"

    def _arrays(self, ndim: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (-1,) + (1,) * (ndim - 1)
        lo = np.asarray(self.low, np.float32).reshape(shape)
        scale = (np.asarray(self.high, np.float32) - lo.ravel()).reshape(shape)
        return lo, scale

    def normalize(self, block: np.ndarray) -> np.ndarray:
        """``(C, ...)`` raw values -> normalised float32."""
        lo, scale = self._arrays(block.ndim)
        return ((block - lo) / scale).astype(np.float32, copy=False)

    def denormalize(self, block: np.ndarray) -> np.ndarray:
        """``(C, ...)`` normalised values -> input intensity units, float32, clipped to dtype."""
        lo, scale = self._arrays(block.ndim)
        out = (block * scale + lo).astype(np.float32, copy=False)
        dt = np.dtype(self.dtype)
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            np.clip(out, info.min, info.max, out=out)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NormStats:
        """Inverse of :meth:`to_dict`."""
        return cls(low=tuple(data["low"]), high=tuple(data["high"]), dtype=data["dtype"])


def sample_values(array, layout: Layout, max_values: int, rng: np.random.Generator) -> np.ndarray:
    """Read up to about ``max_values`` pixels per channel as ``(C, N)`` float32.

    Small arrays are read whole; large ones through random windows, so lazy arrays are
    never loaded entirely.
    """
    total = layout.n_planes * layout.height * layout.width
    if total <= max_values:
        blocks = [layout.read(array, p, slice(None), slice(None)) for p in layout.planes()]
        return np.concatenate([b.reshape(b.shape[0], -1) for b in blocks], axis=1)
    win = min(128, layout.height, layout.width)
    n_win = max(1, max_values // (win * win))
    blocks = []
    for _ in range(n_win):
        plane = tuple(int(rng.integers(n)) for n in layout.plane_shape)
        y = int(rng.integers(layout.height - win + 1))
        x = int(rng.integers(layout.width - win + 1))
        b = layout.read(array, plane, slice(y, y + win), slice(x, x + win))
        blocks.append(b.reshape(b.shape[0], -1))
    return np.concatenate(blocks, axis=1)


def compute_norm_stats(
    array,
    layout: Layout,
    *,
    percentiles: tuple[float, float] = (0.5, 99.5),
    max_values: int = 4_000_000,
    rng: np.random.Generator | None = None,
    allow_missing: bool = False,
) -> NormStats:
    """Percentile statistics per channel; also refuses NaN/inf and constant images.

    ``allow_missing``: non-finite pixels are unknown ones (a method that fills them in) and
    are left out of the statistics instead.

    Raises
    ------
    InputError
        If any sampled value is not finite (unless ``allow_missing``; then if a channel has
        no finite value), or a channel is constant.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    values = sample_values(array, layout, max_values, rng)
    finite = np.isfinite(values)
    percentile = np.percentile
    if not finite.all():
        if not allow_missing:
            raise InputError("the image contains NaN or infinite values; fix or mask them "
                             "first (s2s treats them as unknown pixels and fills them in)")
        if not finite.any(axis=1).all():
            raise InputError("a channel of the image has no known (finite) pixel")
        values, percentile = np.where(finite, values, np.nan), np.nanpercentile
    lo = percentile(values, percentiles[0], axis=1)
    hi = percentile(values, percentiles[1], axis=1)
    for c in range(values.shape[0]):
        if hi[c] <= lo[c]:
            vmin, vmax = np.nanmin(values[c]), np.nanmax(values[c])
            if vmax <= vmin:
                raise InputError(
                    f"channel {c} of the image is constant (all {vmin:g}); nothing to denoise")
            lo[c], hi[c] = vmin, vmax
    dtype = np.dtype(getattr(array, "dtype", np.float32)).name
    return NormStats(low=tuple(map(float, lo)), high=tuple(map(float, hi)), dtype=dtype)


def quantization_step(array, layout: Layout, *, max_values: int = 1_000_000,
                      rng: np.random.Generator | None = None) -> tuple[float, ...]:
    """Spacing of the value lattice per channel, input units (0 for continuous data).

    Integer images: 1. Float images: the smallest gap between distinct sampled values when
    it is a sizeable fraction of the value range (photon counts divided by a gain), else 0.
    """
    dt = np.dtype(getattr(array, "dtype", np.float32))
    if np.issubdtype(dt, np.integer):
        return (1.0,) * layout.channels
    rng = rng if rng is not None else np.random.default_rng(0)
    values = sample_values(array, layout, max_values, rng)
    steps = []
    for v in values:
        u = np.unique(v)
        gaps = np.diff(u)
        gaps = gaps[gaps > 1e-6 * max(float(u[-1] - u[0]), 1e-30)]
        step = float(gaps.min()) if gaps.size else 0.0
        steps.append(step if step > 1e-4 * float(u[-1] - u[0]) else 0.0)
    return tuple(steps)
