"""Proof that the N-net learns the noise: synthetic noise on clean fluorescence images.

The clean image is the StarDist nuclei sample (``../shared/data``), lightly blurred
(Gaussian sigma 1 px) because the "clean" file carries its own noise of about 2 % of its
range, which the N-net would rightly add to the synthetic noise. Values are scaled to a
maximum of 1 and a 256x256 crop trains the model; the theoretical noise std follows from
:func:`napari_blind_denoise.core.add_noise`'s definitions.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import (
    add_noise,
    default_config,
    noise_curve,
    predict,
    run_to_completion,
    train,
)
from napari_blind_denoise.core.noise.model import noise_log_density
from tests.conftest import require_shared_data

STEPS = 300
NOISE = {  # kind -> add_noise options
    "gaussian": {"sigma": 0.1},
    "poisson-gaussian": {"sigma": 0.02, "peak": 30.0},
    "speckle": {"sigma": 0.3},
}


def clean_nuclei() -> np.ndarray:
    """The 512x512 nuclei image, blurred (sigma 1), scaled to max 1, float32."""
    import tifffile
    from scipy.ndimage import gaussian_filter

    path = require_shared_data("stardist_nuclei_clean", "img2d.tif")
    img = gaussian_filter(tifffile.imread(path).astype(np.float32), 1.0)
    return (img / img.max()).astype(np.float32)


def theoretical_std(kind: str, clean: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Noise std of ``add_noise(clean, kind, **NOISE[kind])`` at clean values ``x``."""
    opts = NOISE[kind]
    value_range = float(clean.max() - clean.min())
    if kind == "gaussian":
        return np.full_like(x, opts["sigma"] * value_range)
    if kind == "poisson-gaussian":
        gain = float(clean.max()) / opts["peak"]  # input units per photon
        return np.sqrt(gain * x + (opts["sigma"] * value_range) ** 2)
    return opts["sigma"] * x  # speckle


def fit(noisy: np.ndarray, kind: str, steps: int = STEPS):
    cfg = default_config("nnet", "cpu", noise_model=kind, steps=steps, batch_size=8,
                         val_every=50)
    return run_to_completion(train(noisy, "YX", cfg, device="cpu"))


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(NOISE))
def test_noise_curve_matches_theory(kind: str) -> None:
    clean = clean_nuclei()[:256, :256]
    noisy = add_noise(clean, kind, seed=1, **NOISE[kind])
    trained = fit(noisy, "gmm3")
    edges = np.linspace(clean.min(), clean.max(), 21)
    which = np.digitize(clean.ravel(), edges[1:-1])
    errors = []
    for b in range(20):
        x = clean.ravel()[which == b]
        if x.size < 0.01 * clean.size:  # bins holding at least 1 % of the pixels
            continue
        centre = float(x.mean())
        _, std = noise_curve(trained, 1, (centre, centre))
        expected = float(np.sqrt(np.mean(theoretical_std(kind, clean, x) ** 2)))
        errors.append(abs(std[0] - expected) / expected)
    print(f"{kind}: median relative std error {np.median(errors):.3f} over {len(errors)} bins")
    assert len(errors) >= 5
    assert np.median(errors) < 0.10, f"relative errors per bin: {np.round(errors, 3)}"


# Held-out NLL per pixel, Gaussian minus gmm3, measured 2026-12-01 (one thread): 0.141 nats
# with this test's seeds (noise 3, training 0), 0.135 with noise seed 4, 0.143 with training
# seed 1 (NLLs about -0.31 and -0.45). Asked: 0.10, 0.035 below the smallest of the three
# (the test used to ask only for gmm3 < gaussian, which a 0.001 difference would pass).
# The measurements: docs/results/2026-12-01-test-margins.txt.
MIXTURE_MIN_NLL_GAIN = 0.10


@pytest.mark.slow
def test_mixture_beats_gaussian_at_low_photon_counts() -> None:
    clean = clean_nuclei()
    noisy = add_noise(clean, "poisson", seed=3, peak=4.0)
    train_part, held_out = noisy[:256, :256], noisy[256:, 256:]
    nll = {}
    for kind in ("gaussian", "gmm3"):
        trained = fit(train_part, kind)
        # every held-out pixel predicted while hidden (grid phases): honest residuals
        signal = run_to_completion(predict(trained, held_out, "YX", device="cpu",
                                           inference="phases"))
        nll[kind] = -float(noise_log_density(trained, signal, held_out - signal).mean())
    print(f"held-out NLL per pixel: {nll}")
    assert nll["gaussian"] - nll["gmm3"] >= MIXTURE_MIN_NLL_GAIN, nll


@pytest.mark.slow
def test_calibration_removes_the_dnet_error_at_high_snr() -> None:
    """HeLa mitochondria (textured) with weak Gaussian noise: the raw N-net counts the
    D-net's error as noise; the calibrated curve is closer to the truth."""
    import tifffile
    from scipy.ndimage import gaussian_filter

    path = require_shared_data("fiji_hela_cells_clean", "hela_cells_CYX.tif")
    clean = gaussian_filter(tifffile.imread(path)[1].astype(np.float64), 1.0)[:384, :384]
    sigma = 0.03 * float(clean.max() - clean.min())
    noisy = (clean + np.random.default_rng(5).normal(0, sigma, clean.shape)).astype(np.float32)
    trained = fit(noisy, "gaussian", steps=600)
    assert "noise_correction" in trained.info
    edges = np.linspace(clean.min(), clean.max(), 21)
    which = np.digitize(clean.ravel(), edges[1:-1])
    centres = [float(clean.ravel()[which == b].mean()) for b in range(20)
               if (which == b).sum() >= 0.01 * clean.size]

    def median_error() -> float:
        return float(np.median([abs(noise_curve(trained, 1, (c, c))[1][0] - sigma) / sigma
                                for c in centres]))

    calibrated = median_error()
    trained.info.pop("noise_correction")
    raw = median_error()
    print(f"median relative std error: raw {raw:.3f}, calibrated {calibrated:.3f}")
    assert calibrated < raw
    assert calibrated < 0.10
