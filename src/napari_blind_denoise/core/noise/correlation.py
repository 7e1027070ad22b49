"""The noise's spatial correlation, measured from the noisy image alone.

Blind-spot methods assume that a pixel's noise is independent of its neighbours'. Confocal
line scans, camera processing, binning and resampling break that, and a blind spot of one
pixel then learns the correlated noise as signal and hands it back.

How it is measured (docs/methods.md): the image is cut into small tiles; each tile has its
best-fitting plane removed, and the flattest quarter of the tiles (lowest remaining variance:
background, smooth regions) are kept, where what remains is almost only noise. Their pooled
autocorrelation at lags up to ``max_lag`` is the noise's, up to a small positive offset from
what is left of the signal; that offset is read at the largest lags (the outer ring of the
map, where short-range noise correlation has died out) and removed. The *extent* along an
axis is the largest lag, counted from 1 without a gap, whose correlation exceeds
``threshold`` (0.2: below it, residual signal in the tiles of small or busy images has been
measured to reach 0.15, and the real confocal images whose scan-line correlation stayed under
~0.25 denoised as well with a one-pixel blind spot as a tuned blur).

The same tiles give the check that a result did not hand the noise back
(:func:`removed_noise_fraction`): in flat regions a good denoiser's residual is the noise
itself; a result that kept the noise leaves a residual with little of its variance.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.axes import Layout

TILE = 16  # tile edge (pixels)
MAX_TILES = 600  # tiles examined
FLAT_FRACTION = 0.25  # share of the flattest tiles kept
MIN_TILES = 4
MAX_LAG = 4
THRESHOLD = 0.2  # correlation above this counts towards the extent (see the module docstring)


@dataclass(frozen=True)
class NoiseCorrelation:
    """Measured spatial correlation of the noise.

    Attributes
    ----------
    acf
        ``(2L+1, 2L+1)`` normalised autocorrelation; lag ``(dy, dx)`` at ``[L+dy, L+dx]``.
    extent
        ``(y, x)``: pixels over which the noise stays correlated (0: independent).
    tiles
        How many flat tiles the measurement pooled.
    """

    acf: np.ndarray
    extent: tuple[int, int]
    tiles: int

    @property
    def lag1(self) -> tuple[float, float]:
        """Correlation with the next pixel along Y and along X."""
        c = self.acf.shape[0] // 2
        return float(self.acf[c + 1, c]), float(self.acf[c, c + 1])

    @property
    def independent(self) -> bool:
        """True when no neighbour's noise is correlated above the threshold."""
        return self.extent == (0, 0)

    def describe(self) -> str:
        """One line for the user."""
        ry, rx = self.lag1
        if self.tiles == 0:
            return "noise correlation not measured (no tile free of excluded pixels)"
        if self.independent:
            return (f"noise looks pixel-independent (lag-1 correlation {ry:.2f} along Y, "
                    f"{rx:.2f} along X)")
        axes = [f"{e} px along {a}" for e, a in zip(self.extent, "YX", strict=True) if e]
        return (f"noise correlated over {' and '.join(axes)} (lag-1 correlation {ry:.2f} "
                f"along Y, {rx:.2f} along X)")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"extent_y": self.extent[0], "extent_x": self.extent[1],
                "lag1_y": round(self.lag1[0], 4), "lag1_x": round(self.lag1[1], 4),
                "independent": self.independent, "tiles": self.tiles,
                "acf": np.round(self.acf, 4).tolist(), "threshold": THRESHOLD}


@functools.lru_cache(maxsize=8)
def _smooth_basis(h: int, w: int) -> np.ndarray:
    """Orthonormal basis ``(h*w, 6)`` of the quadratic surfaces on an ``h``×``w`` tile."""
    yy, xx = np.mgrid[0:h, 0:w]
    y, x = (yy.ravel() - (h - 1) / 2) / h, (xx.ravel() - (w - 1) / 2) / w
    q, _ = np.linalg.qr(np.stack([np.ones(h * w), y, x, y * y, x * x, x * y], 1))
    return q


def _detrend(tile: np.ndarray) -> np.ndarray:
    """``tile`` ``(..., h, w)`` minus its least-squares quadratic surface (the smooth part of
    the signal: its level, slope and curvature across the tile), for every leading index at
    once."""
    h, w = tile.shape[-2:]
    q = _smooth_basis(h, w)
    flat = tile.reshape(-1, h * w)
    return (flat - (flat @ q) @ q.T).reshape(tile.shape)


def _tile_origins(layout: Layout, rng: np.random.Generator, size: int):
    """Up to ``MAX_TILES`` random ``(plane, y, x)`` tile origins on a ``size`` grid."""
    ny, nx = layout.height // size, layout.width // size
    planes = list(layout.planes())
    total = len(planes) * ny * nx
    picks = rng.choice(total, min(total, MAX_TILES), replace=False)
    for i in np.sort(picks):
        p, rest = divmod(int(i), ny * nx)
        yield planes[p], (rest // nx) * size, (rest % nx) * size


def _flattest(data, layout: Layout, seed: int) -> tuple[list[tuple], np.ndarray | None]:
    """The flattest tiles' ``(plane, y, x, size)``, flattest first, and their detrended
    pixels ``(n, ..., size, size)`` (``None`` when no tile is finite)."""
    size = min(TILE, layout.height, layout.width)
    rng = np.random.default_rng(seed)
    origins, blocks = [], []
    for plane, y, x in _tile_origins(layout, rng, size):
        block = layout.read(data, plane, slice(y, y + size), slice(x, x + size))
        if not np.isfinite(block).all():  # unknown pixels (a method that fills them in)
            continue
        origins.append((plane, y, x, size))
        blocks.append(np.asarray(block, np.float64))
    if not blocks:
        return [], None
    res = _detrend(np.stack(blocks))
    order = np.argsort(res.reshape(len(blocks), -1).var(axis=1), kind="stable")
    keep = order[:max(MIN_TILES, int(len(blocks) * FLAT_FRACTION))]
    return [origins[i] for i in keep], res[keep]


def flat_tiles(data, layout: Layout, *, seed: int = 0) -> list[tuple]:
    """Origins ``(plane, y, x)`` and edge of the flattest tiles of ``data`` (channel-pooled);
    tiles with non-finite pixels are left out.

    Returns
    -------
    list
        ``(plane, y, x, size)`` of the kept tiles, flattest first.
    """
    return _flattest(data, layout, seed)[0]


def _pair(n: int, d: int) -> tuple[slice, slice]:
    """Slices of the first and second member of every pixel pair ``d`` apart on ``n``."""
    return (slice(0, n - d), slice(d, n)) if d >= 0 else (slice(-d, n), slice(0, n + d))


def _pooled_acf(blocks: np.ndarray, max_lag: int) -> np.ndarray:
    """Autocovariance ``(2L+1, 2L+1)`` pooled over the stacked ``(n, ..., h, w)`` blocks."""
    size = 2 * max_lag + 1
    cov = np.zeros((size, size))
    h, w = blocks.shape[-2:]
    for dy in range(-max_lag, max_lag + 1):
        (ya, yb) = _pair(h, dy)
        for dx in range(-max_lag, max_lag + 1):
            (xa, xb) = _pair(w, dx)
            a, c = blocks[..., ya, xa], blocks[..., yb, xb]
            cov[max_lag + dy, max_lag + dx] = float((a * c).sum()) / a.size
    return cov


def _extent(profile: np.ndarray, threshold: float) -> int:
    """Number of leading lags (from lag 1) above ``threshold``."""
    n = 0
    for value in profile:
        if value <= threshold:
            break
        n += 1
    return n


def _constant(data, layout: Layout, tiles: list[tuple], variance: float) -> bool:
    """Whether the tiles' residual ``variance`` is round-off against their level."""
    level = max(abs(float(np.mean(layout.read(data, p, slice(y, y + s), slice(x, x + s)))))
                for p, y, x, s in tiles[:MIN_TILES])
    return variance <= (1e-6 * max(level, 1e-30)) ** 2


def estimate_noise_correlation(data, layout: Layout, *, max_lag: int = MAX_LAG,
                               threshold: float = THRESHOLD,
                               seed: int = 0) -> NoiseCorrelation:
    """Measure the noise's spatial autocorrelation from the noisy image alone.

    Parameters
    ----------
    data, layout
        The noisy image (numpy, zarr, dask; read tile by tile) and its layout.
    max_lag
        Largest lag measured (pixels); the outer ring of lags gives the signal offset.
    threshold
        Correlation above which a lag counts towards the extent.

    Returns
    -------
    NoiseCorrelation
    """
    return _measure(data, layout, max_lag, threshold, seed)[0]


def _lags(layout: Layout, max_lag: int) -> int:
    """``max_lag`` reduced to what the image's tiles can measure (at least 2)."""
    return max(2, min(max_lag, min(layout.height, layout.width, TILE) // 3))


def _measure(data, layout: Layout, max_lag: int, threshold: float, seed: int
             ) -> tuple[NoiseCorrelation, np.ndarray | None, int]:
    """The plain estimate (:func:`estimate_noise_correlation`), the flat tiles' pooled
    autocovariance it came from (``None`` when nothing was measurable) and their edge: one
    read of the tiles for both estimates."""
    max_lag = _lags(layout, max_lag)
    identity = np.zeros((2 * max_lag + 1,) * 2)
    identity[max_lag, max_lag] = 1.0
    tiles, residuals = _flattest(data, layout, seed)
    if residuals is None:  # every tile holds unknown pixels: nothing to measure
        return NoiseCorrelation(identity, (0, 0), 0), None, 0
    cov = _pooled_acf(residuals, max_lag)
    c = max_lag
    if _constant(data, layout, tiles, cov[c, c]):  # nothing to measure
        return NoiseCorrelation(identity, (0, 0), len(tiles)), None, 0
    acf = cov / cov[c, c]
    ring = np.concatenate([acf[0], acf[-1], acf[1:-1, 0], acf[1:-1, -1]])
    offset = max(0.0, float(np.median(ring)))
    acf = (acf - offset) / (1.0 - offset)
    extent = (_extent(acf[c + 1:, c], threshold), _extent(acf[c, c + 1:], threshold))
    return NoiseCorrelation(acf, extent, len(tiles)), cov, residuals.shape[-1]


def removed_noise_fraction(noisy, denoised, layout: Layout, *, seed: int = 0) -> float:
    """Variance of ``noisy - denoised`` over that of ``noisy`` in the flattest tiles.

    Near 1 when the result removed the noise there (the residual is the noise); near 0 when
    it handed the noise back (an identity output gives 0).
    """
    tiles, residuals = _flattest(noisy, layout, seed)
    noise = 0.0 if residuals is None else float((residuals * residuals).sum())
    res = 0.0
    for plane, y, x, s in tiles:
        ys, xs = slice(y, y + s), slice(x, x + s)
        diff = (np.asarray(layout.read(noisy, plane, ys, xs), np.float64)
                - np.asarray(layout.read(denoised, plane, ys, xs), np.float64))
        res += float((_detrend(diff) ** 2).sum())
    return res / noise if noise > 0 else 1.0


@functools.lru_cache(maxsize=4)
def _detrend_bias(size: int, max_lag: int) -> tuple[np.ndarray, list[tuple[int, int]],
                                                    list[tuple[int, int]]]:
    """What detrending ``size``-pixel tiles does to a measured autocovariance: the matrix
    ``A`` with ``E[measured(d)] = sum_k A[d, k] c(k)`` for a noise autocovariance ``c``
    supported on the lags of the map, the map's lags ``d`` and the half-plane lags ``k``
    (``c(-k) = c(k)``)."""
    n = size * size
    q = _smooth_basis(size, size)
    index = np.arange(n).reshape(size, size)
    lags = [(dy, dx) for dy in range(-max_lag, max_lag + 1)
            for dx in range(-max_lag, max_lag + 1)]
    half = [(0, 0)] + [d for d in lags if d[0] > 0 or (d[0] == 0 and d[1] > 0)]

    def pairs(d: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        (ya, yb), (xa, xb) = _pair(size, d[0]), _pair(size, d[1])
        return index[ya, xa].ravel(), index[yb, xb].ravel()

    members = {d: pairs(d) for d in lags}
    a = np.zeros((len(lags), len(half)))
    for j, k in enumerate(half):
        e = np.zeros((n, n))  # the covariance with c(k) = 1 and every other lag 0
        for d in {k, (-k[0], -k[1])}:
            first, second = members[d]
            e[first, second] = 1.0
        pep = e - q @ (q.T @ e)  # P E P with P = I - Q Q^T
        pep = pep - (pep @ q) @ q.T
        for i, d in enumerate(lags):
            first, second = members[d]
            a[i, j] = float(pep[first, second].mean())
    return a, lags, half


def noise_autocorrelation_debiased(data, layout: Layout, *, max_lag: int = MAX_LAG,
                                   seed: int = 0) -> np.ndarray:
    """The noise's normalised autocorrelation ``(2L+1, 2L+1)`` measured on the same flat
    tiles as :func:`estimate_noise_correlation`, with the bias of the detrending and what is
    left of the signal removed.

    Removing each tile's quadratic surface also removes part of the noise's low-frequency
    power, so the pooled correlation of the residuals comes out too low (negative at lags
    where it is 0; the map sums to about 0 where the true one sums to 3-7). That bias is
    linear in the noise's autocovariance and known for the tile size
    (:func:`_detrend_bias`): solving for the autocovariance that the detrending turns into
    what was measured undoes it (tests/core/noise/test_correlation.py).

    What is left of the signal in the flattest tiles of a busy image adds a broad, slowly
    decaying covariance, which the solve would count as noise (it chose too wide a blur on
    two W2S images whose noise is independent: docs/benchmarks.md, "The blend's blur on
    correlated noise"). The noise's own correlation is
    short: it is taken to end one pixel beyond the extent the plain estimate measured, and a
    smooth surface (quadratic in the lag's length) fitted to the lags beyond is removed from
    every lag. The extent keeps the plain estimate, on which its threshold was tuned; this
    one serves what needs the correlation's values (the blend's blur,
    :mod:`..methods.blend`). The identity map when nothing was measurable.
    """
    plain, cov, size = _measure(data, layout, max_lag, THRESHOLD, seed)
    max_lag = _lags(layout, max_lag)
    if cov is None:
        return plain.acf
    a, lags, half = _detrend_bias(size, max_lag)
    measured = np.array([cov[max_lag + dy, max_lag + dx] for dy, dx in lags])
    solved, *_ = np.linalg.lstsq(a, measured, rcond=None)
    fixed = np.zeros_like(cov)
    for value, (dy, dx) in zip(solved, half, strict=True):
        fixed[max_lag + dy, max_lag + dx] = fixed[max_lag - dy, max_lag - dx] = value
    (ey, ex) = plain.extent
    dy, dx = np.mgrid[-max_lag:max_lag + 1, -max_lag:max_lag + 1]
    inside = (np.abs(dy) <= ey + 1) & (np.abs(dx) <= ex + 1)
    if (~inside).sum() >= 6:  # the signal's smooth covariance, fitted beyond the noise's
        r = np.hypot(dy, dx)
        basis = np.stack([np.ones_like(r), r, r * r], -1)
        coef, *_ = np.linalg.lstsq(basis[~inside], fixed[~inside], rcond=None)
        fixed = np.where(inside, fixed - basis @ coef, 0.0)
    if not fixed[max_lag, max_lag] > 0:
        identity = np.zeros_like(fixed)
        identity[max_lag, max_lag] = 1.0
        return identity
    return fixed / fixed[max_lag, max_lag]
