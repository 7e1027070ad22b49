"""Empirical residual statistics by signal level."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core.data.axes import validate_axes
from napari_blind_denoise.core.noise.stats import binned_std, residuals_at, sample_residuals


def test_binned_std_recovers_poisson_gaussian_variance(rng) -> None:
    signal = rng.uniform(10, 200, 400_000)
    residual = rng.normal(0.0, np.sqrt(2.0 * signal + 25.0))
    centres, std, counts = binned_std(signal, residual, n_bins=20)
    expected = np.sqrt(2.0 * centres + 25.0)
    assert len(centres) >= 18
    assert np.median(np.abs(std / expected - 1)) < 0.02
    assert counts.sum() <= signal.size


def test_binned_std_drops_sparse_bins(rng) -> None:
    signal = np.concatenate([rng.uniform(0, 1, 10_000), [50.0]])
    residual = rng.normal(0, 1, signal.size)
    centres, _, counts = binned_std(signal, residual, n_bins=10, signal_range=(0, 60))
    assert np.all(centres < 10)
    assert counts.min() >= 0.01 * signal.size


def test_binned_std_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same number"):
        binned_std(np.zeros(3), np.zeros(4))


def test_sample_residuals_reads_planes_and_caps_pixels(rng) -> None:
    clean = rng.uniform(0, 100, (5, 32, 32))
    noisy = clean + 3.0
    layout = validate_axes("ZYX", clean.shape)
    signal, residual = sample_residuals(noisy, clean, layout, max_pixels=3 * 32 * 32)
    assert signal.size == 3 * 32 * 32
    np.testing.assert_allclose(residual, 3.0, atol=1e-4)  # read as float32
    signal, _ = sample_residuals(noisy, clean, layout, max_pixels=500)
    assert signal.size == 500


def test_residuals_at_selects_a_level() -> None:
    s = np.array([1.0, 2.0, 3.0, 10.0])
    r = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_array_equal(residuals_at(s, r, 2.0, 1.0), [0.1, 0.2, 0.3])
