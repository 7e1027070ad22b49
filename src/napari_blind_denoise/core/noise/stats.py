"""Empirical noise statistics: residuals (noisy − denoised) binned by signal level.

These are the measurements a learned noise model is checked against: the standard deviation
of the residual in each signal bin, and the residuals of pixels at one signal level.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import numpy as np

from ..data.axes import Layout
from ..events import PredictEvent

# Bins shown in the GUI hold at least this fraction of the pixels: 1 % would hide the bright
# structures of a mostly dark field (on the embedded sample, every nucleus above 125 of 180 ADU).
DISPLAY_MIN_FRACTION = 0.0005  # 131 pixels of a 512² image, 1000 of the 2M sampled


def sample_residuals(noisy, denoised, layout: Layout, *, channel: int = 0,
                     max_pixels: int = 2_000_000) -> tuple[np.ndarray, np.ndarray]:
    """``(signal, residual)`` of up to ``max_pixels`` pixels of one channel, input units.

    Whole planes are read, evenly spread over the stack, so zarr inputs are read plane by
    plane. ``signal`` is the denoised value and ``residual`` is ``noisy - denoised``.
    """
    per_plane = layout.height * layout.width
    n_planes = max(1, min(layout.n_planes, max_pixels // max(1, per_plane)))
    planes = list(layout.planes())
    picks = np.unique(np.linspace(0, len(planes) - 1, n_planes).round().astype(int))
    sig, res = [], []
    full_y, full_x = slice(None), slice(None)
    for i in picks:
        d = layout.read(denoised, planes[i], full_y, full_x)[channel].ravel()
        y = layout.read(noisy, planes[i], full_y, full_x)[channel].ravel()
        sig.append(d)
        res.append(y - d)
    signal = np.concatenate(sig).astype(np.float64)
    residual = np.concatenate(res).astype(np.float64)
    if signal.size > max_pixels:  # a single plane larger than the budget
        keep = np.random.default_rng(0).choice(signal.size, max_pixels, replace=False)
        signal, residual = signal[keep], residual[keep]
    return signal, residual


def binned_std(signal, residual, *, n_bins: int = 32, min_fraction: float = 0.01,
               signal_range: tuple[float, float] | None = None,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Standard deviation of ``residual`` in equal-width bins of ``signal``.

    Parameters
    ----------
    signal, residual
        Same-shape arrays (any shape), input units.
    n_bins
        Number of bins over ``signal_range`` (default: the 0.5-99.5 percentiles of signal).
    min_fraction
        Bins holding fewer than this fraction of the pixels are dropped.

    Returns
    -------
    centres, std, counts
        One entry per kept bin.
    """
    s = np.asarray(signal, np.float64).ravel()
    r = np.asarray(residual, np.float64).ravel()
    if s.shape != r.shape:
        raise ValueError("signal and residual must have the same number of pixels")
    lo, hi = signal_range if signal_range is not None else np.percentile(s, [0.5, 99.5])
    if not hi > lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, n_bins - 1)
    inside = (s >= lo) & (s <= hi)
    idx, rr = idx[inside], r[inside]
    counts = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sums = np.bincount(idx, rr, minlength=n_bins)
    sq = np.bincount(idx, rr * rr, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / counts
        var = sq / counts - mean**2
    keep = counts >= max(2.0, min_fraction * s.size)
    centres = 0.5 * (edges[:-1] + edges[1:])
    return centres[keep], np.sqrt(np.maximum(var[keep], 0.0)), counts[keep]


def residuals_at(signal, residual, level: float, half_width: float) -> np.ndarray:
    """Residuals of the pixels whose signal lies within ``level ± half_width``."""
    s = np.asarray(signal)
    return np.asarray(residual)[np.abs(s - level) <= half_width]


def write_residual(noisy, denoised, out, layout: Layout, *, rows: int = 256,
                   stop: threading.Event | None = None) -> Generator[PredictEvent, None, None]:
    """``out = noisy - denoised``, window by window (``rows`` rows of one plane at a time).

    Yields
    ------
    PredictEvent
        One per window; ends early when ``stop`` is set.
    """
    starts = range(0, layout.height, rows)
    n, done, t0 = layout.n_planes * len(starts), 0, time.perf_counter()
    for plane in layout.planes():
        for y0 in starts:
            ys, xs = slice(y0, min(layout.height, y0 + rows)), slice(None)
            diff = layout.read(noisy, plane, ys, xs) - layout.read(denoised, plane, ys, xs)
            layout.write(out, plane, ys, xs, diff)
            done += 1
            yield PredictEvent(tile=done, n_tiles=n, elapsed=time.perf_counter() - t0)
            if stop is not None and stop.is_set():
                return
