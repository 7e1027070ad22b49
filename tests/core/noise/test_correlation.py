"""Noise correlation measured from the noisy image alone; the hand-back check."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import add_noise, validate_axes
from napari_blind_denoise.core.noise.correlation import (
    estimate_noise_correlation,
    noise_autocorrelation_debiased,
    removed_noise_fraction,
)
from napari_blind_denoise.core.noise.synthetic import noise_autocorrelation, noise_kernel
from tests.conftest import make_blobs, make_noisy


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return make_blobs((256, 256), seed=3) * 200.0 + 20.0


def true_extent(kind: str, length: int, threshold: float = 0.2) -> tuple[int, int]:
    acf = noise_autocorrelation(noise_kernel(kind, length), 6)
    c = 6
    ey = int(np.argmax(acf[c + 1:, c] <= threshold))
    ex = int(np.argmax(acf[c, c + 1:] <= threshold))
    return ey, ex


@pytest.mark.parametrize(("kind", "length"), [("scanline", 2), ("scanline", 3),
                                              ("scanline", 5), ("resampled", 2),
                                              ("resampled", 3)])
def test_extent_of_correlated_noise(clean, kind: str, length: int) -> None:
    noisy = add_noise(clean, kind, sigma=0.1, peak=30.0, length=length, seed=2)
    est = estimate_noise_correlation(noisy, validate_axes("YX", noisy.shape))
    ty, tx = true_extent(kind, length)
    assert abs(est.extent[0] - ty) <= 1 and abs(est.extent[1] - tx) <= 1, (est.extent, ty, tx)
    assert not est.independent
    c = est.acf.shape[0] // 2
    assert est.acf[c, c] == pytest.approx(1.0)


@pytest.mark.parametrize("kind", ["gaussian", "poisson", "poisson-gaussian"])
@pytest.mark.parametrize("size", [64, 256])
def test_independent_noise_is_independent(clean, kind: str, size: int) -> None:
    noisy = add_noise(clean[:size, :size], kind, sigma=0.05, peak=20.0, seed=5)
    est = estimate_noise_correlation(noisy, validate_axes("YX", noisy.shape))
    assert est.independent, est.describe()
    assert max(abs(v) for v in est.lag1) < (0.1 if size == 256 else 0.2)
    assert "independent" in est.describe()


@pytest.mark.parametrize("seed", range(4))
def test_small_busy_images_are_not_mistaken_for_correlated(seed: int) -> None:
    noisy = make_noisy((64, 64), seed=seed)[0]
    assert estimate_noise_correlation(noisy, validate_axes("YX", noisy.shape)).independent


def test_describes_the_axis(clean) -> None:
    noisy = add_noise(clean, "scanline", sigma=0.1, length=3, seed=1)
    est = estimate_noise_correlation(noisy, validate_axes("YX", noisy.shape))
    assert "along X" in est.describe() and est.to_dict()["extent_x"] == est.extent[1] >= 1
    assert est.to_dict()["extent_y"] == 0


def test_stack_and_lazy_windows(clean) -> None:
    stack = np.stack([add_noise(clean[:128, :128], "scanline", length=3, seed=s)
                      for s in range(3)])
    est = estimate_noise_correlation(stack, validate_axes("ZYX", stack.shape))
    assert est.extent[0] == 0 and est.extent[1] in (1, 2, 3)


def test_constant_image() -> None:
    flat = np.full((64, 64), 7.0, np.float32)
    assert estimate_noise_correlation(flat, validate_axes("YX", flat.shape)).independent


def test_removed_noise_fraction(clean) -> None:
    noisy = add_noise(clean, "gaussian", sigma=0.05, seed=0)
    layout = validate_axes("YX", noisy.shape)
    assert removed_noise_fraction(noisy, noisy, layout) == pytest.approx(0.0, abs=1e-9)
    assert removed_noise_fraction(noisy, clean, layout) > 0.85
    half = clean + 0.5 * (noisy - clean)  # keeps half of the noise amplitude
    assert 0.15 < removed_noise_fraction(noisy, half, layout) < 0.4


def test_no_tile_without_unknown_pixels_is_reported_not_measured() -> None:
    from napari_blind_denoise.core.noise.correlation import estimate_noise_correlation

    data = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    data[::4, ::4] = np.nan  # a NaN in every tile
    corr = estimate_noise_correlation(data, validate_axes("YX", data.shape))
    assert corr.tiles == 0 and corr.independent
    assert "not measured" in corr.describe()


@pytest.mark.parametrize(("kind", "length"), [("scanline", 3), ("resampled", 3),
                                              ("resampled", 2)])
def test_debiased_autocorrelation_matches_the_true_one(clean, kind: str, length: int) -> None:
    """Detrending the tiles removes the noise's low-frequency power: the plain estimate's
    correlations sum to about 0 over the map where the true ones sum to 3-7 (the noise's
    power at zero frequency, which decides how much a blur leaves). The debiased one keeps
    the sum within 30 % and each correlated lag within 0.07."""
    noisy = add_noise(clean, kind, sigma=0.1, peak=30.0, length=length, seed=4)
    layout = validate_axes("YX", noisy.shape)
    true = noise_autocorrelation(noise_kernel(kind, length), 4)
    plain = estimate_noise_correlation(noisy, layout).acf
    fixed = noise_autocorrelation_debiased(noisy, layout)
    assert fixed.shape == true.shape
    correlated = true > 0.1
    assert np.abs(fixed - true)[correlated].max() < 0.07, np.round(fixed - true, 3)
    assert abs(fixed.sum() - true.sum()) < 0.3 * true.sum(), (fixed.sum(), true.sum())
    assert plain.sum() < 0.5 * true.sum()
    assert fixed == pytest.approx(fixed[::-1, ::-1])  # symmetric


def test_debiased_autocorrelation_of_independent_noise(clean) -> None:
    noisy = add_noise(clean, "poisson-gaussian", sigma=0.05, peak=20.0, seed=6)
    fixed = noise_autocorrelation_debiased(noisy, validate_axes("YX", noisy.shape))
    c = fixed.shape[0] // 2
    off = fixed.copy()
    off[c, c] = 0.0
    assert fixed[c, c] == 1.0
    assert np.abs(off).max() < 0.05


def test_debiased_autocorrelation_of_a_constant_image() -> None:
    flat = np.full((64, 64), 5.0, np.float32)
    fixed = noise_autocorrelation_debiased(flat, validate_axes("YX", flat.shape))
    c = fixed.shape[0] // 2
    assert fixed[c, c] == 1.0 and np.count_nonzero(fixed) == 1
