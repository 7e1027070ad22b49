"""The embedded sample: fluorescent nuclei with seeded synthetic camera noise.

Clean image: ``img2d.tif`` of StarDist 0.9.2 (BSD-3-Clause), nuclei from the 2018 Kaggle
Data Science Bowl (Caicedo et al., Nature Methods 2019). The noisy image simulates a camera:
``ADU = 100 + 4 * Poisson(20 * clean / max) + Normal(0, 6)``, seed 7, stored as uint16.
The clean reference is the noise-free expectation in the same ADU units (float32).
See ``data/README.md``. No napari import here: napari calls :func:`napari_sample` lazily.
"""

from __future__ import annotations

from importlib.resources import files

import numpy as np

NOISY = "nuclei_noisy.tif"
CLEAN = "nuclei_clean.tif"
OFFSET, GAIN, PEAK_PHOTONS, READ_NOISE, SEED = 100.0, 4.0, 20.0, 6.0, 7


def simulate_camera(clean: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(noisy uint16, expected float32)`` camera images for a clean image."""
    rng = np.random.default_rng(seed)
    photons = clean.astype(np.float64) / float(clean.max()) * PEAK_PHOTONS
    expected = OFFSET + GAIN * photons
    noisy = OFFSET + GAIN * rng.poisson(photons) + rng.normal(0.0, READ_NOISE, clean.shape)
    noisy = np.clip(np.round(noisy), 0, 65535).astype(np.uint16)
    return noisy, expected.astype(np.float32)


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` arrays of the embedded sample, axes ``YX``."""
    import tifffile

    root = files("napari_blind_denoise") / "data"
    noisy = tifffile.imread(root / NOISY)
    clean = tifffile.imread(root / CLEAN)
    return noisy, clean


def napari_sample() -> list[tuple[np.ndarray, dict, str]]:
    """napari sample-data contribution: the noisy image and its clean reference.

    The reference comes first, hidden and marked as a reference (the widgets' pickers skip
    it); the noisy image is added last, so napari selects it.
    """
    noisy, clean = load_sample()
    lo, hi = float(np.percentile(clean, 0.1)), float(np.percentile(clean, 99.9))
    return [
        (clean, {"name": "nuclei clean (reference)", "contrast_limits": (lo, hi),
                 "visible": False, "metadata": {"napari_blind_denoise": {"role": "reference"}}},
         "image"),
        (noisy, {"name": "nuclei noisy", "contrast_limits": (lo, hi)}, "image"),
    ]
