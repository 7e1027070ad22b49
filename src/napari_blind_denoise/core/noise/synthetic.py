"""Seeded synthetic noise, for evaluation only (the methods never need it).

Independent kinds: ``gaussian``, ``poisson``, ``poisson-gaussian``, ``salt-pepper``,
``speckle``. Spatially correlated kinds, as real microscopes make them:
``scanline`` (Gaussian noise filtered along X, as a confocal's line scan does) and
``resampled`` (Poisson-Gaussian noise filtered by a small 2-D kernel, as camera processing,
binning or resampling do). Their filters preserve the noise variance, and their
autocorrelation is known exactly: :func:`noise_autocorrelation`.
"""

from __future__ import annotations

import numpy as np

INDEPENDENT_KINDS = ("gaussian", "poisson", "poisson-gaussian", "salt-pepper", "speckle")
CORRELATED_KINDS = ("scanline", "resampled")
NOISE_KINDS = (*INDEPENDENT_KINDS, *CORRELATED_KINDS)


def noise_kernel(kind: str, length: int = 3) -> np.ndarray:
    """The unit-energy 2-D filter ``(ky, kx)`` a correlated kind applies to white noise.

    ``scanline``: a box of ``length`` pixels along X; ``resampled``: the separable binomial
    kernel of ``length`` taps (``[1, 2, 1]`` for 3) along both axes.
    """
    if length < 1:
        raise ValueError("length must be >= 1")
    if kind == "scanline":
        k = np.ones((1, length))
    elif kind == "resampled":
        row = np.array([1.0])
        for _ in range(length - 1):
            row = np.convolve(row, [1.0, 1.0])
        k = np.outer(row, row)
    else:
        raise ValueError(f"{kind!r} is not a correlated noise kind {CORRELATED_KINDS}")
    return k / np.sqrt((k * k).sum())


def noise_autocorrelation(kernel: np.ndarray, max_lag: int = 4) -> np.ndarray:
    """Exact autocorrelation ``(2L+1, 2L+1)`` (lag ``(dy, dx)`` at ``[L+dy, L+dx]``) of white
    noise filtered by ``kernel``; 1 at lag 0."""
    ky, kx = kernel.shape
    size = 2 * max_lag + 1
    acf = np.zeros((size, size))
    for dy in range(-max_lag, max_lag + 1):
        for dx in range(-max_lag, max_lag + 1):
            total = 0.0
            for y in range(ky):
                for x in range(kx):
                    if 0 <= y + dy < ky and 0 <= x + dx < kx:
                        total += kernel[y, x] * kernel[y + dy, x + dx]
            acf[max_lag + dy, max_lag + dx] = total
    return acf / acf[max_lag, max_lag]


def _filter(noise: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``noise`` (..., Y, X) correlated by ``kernel`` (same-size output, wrapped borders)."""
    from scipy.ndimage import correlate

    k = kernel.reshape((1,) * (noise.ndim - 2) + kernel.shape)
    return correlate(noise, k, mode="wrap")


def add_noise(
    clean: np.ndarray,
    kind: str,
    *,
    seed: int = 0,
    sigma: float = 0.1,
    peak: float = 30.0,
    amount: float = 0.05,
    length: int = 3,
) -> np.ndarray:
    """Return a noisy float32 copy of ``clean``.

    Parameters
    ----------
    clean
        Reference image (any real dtype).
    kind
        ``gaussian``: additive, std ``sigma`` times the image range (use ``sigma`` in
        absolute units by passing a range-1 image).
        ``poisson``: the image rescaled so its maximum is ``peak`` photons, sampled, and scaled
        back. ``poisson-gaussian``: that, plus Gaussian read noise of ``sigma`` times the range.
        ``salt-pepper``: a fraction ``amount`` of pixels set to the min or max.
        ``speckle``: multiplicative, ``x * (1 + sigma * n)``.
        ``scanline``: ``gaussian`` noise filtered along X by a box of ``length`` pixels.
        ``resampled``: the ``poisson-gaussian`` noise (``noisy - clean``) filtered by the
        binomial kernel of ``length`` taps along Y and X (:func:`noise_kernel`).
    seed
        Seed of the random generator.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}")
    rng = np.random.default_rng(seed)
    x = np.asarray(clean, np.float64)
    lo, hi = float(x.min()), float(x.max())
    rng_range = hi - lo if hi > lo else 1.0
    if kind in CORRELATED_KINDS:
        base = "gaussian" if kind == "scanline" else "poisson-gaussian"
        noise = add_noise(clean, base, seed=seed, sigma=sigma, peak=peak) - x
        y = x + _filter(noise, noise_kernel(kind, length))
    elif kind == "gaussian":
        y = x + rng.normal(0.0, sigma * rng_range, x.shape)
    elif kind in ("poisson", "poisson-gaussian"):
        scale = peak / hi if hi > 0 else 1.0
        y = rng.poisson(np.clip(x, 0, None) * scale) / scale
        if kind == "poisson-gaussian":
            y = y + rng.normal(0.0, sigma * rng_range, x.shape)
    elif kind == "salt-pepper":
        y = x.copy()
        u = rng.random(x.shape)
        y[u < amount / 2] = lo
        y[(u >= amount / 2) & (u < amount)] = hi
    else:
        y = x * (1.0 + sigma * rng.standard_normal(x.shape))
    return y.astype(np.float32)
