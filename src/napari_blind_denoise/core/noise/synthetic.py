"""Seeded synthetic noise, for evaluation only (the methods never need it)."""

from __future__ import annotations

import numpy as np

NOISE_KINDS = ("gaussian", "poisson", "poisson-gaussian", "salt-pepper", "speckle")


def add_noise(
    clean: np.ndarray,
    kind: str,
    *,
    seed: int = 0,
    sigma: float = 0.1,
    peak: float = 30.0,
    amount: float = 0.05,
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
    seed
        Seed of the random generator.
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}")
    rng = np.random.default_rng(seed)
    x = np.asarray(clean, np.float64)
    lo, hi = float(x.min()), float(x.max())
    rng_range = hi - lo if hi > lo else 1.0
    if kind == "gaussian":
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
