"""Seeded synthetic noise: reproducibility and statistics."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import NOISE_KINDS, add_noise


@pytest.fixture
def clean() -> np.ndarray:
    """Range exactly 1: values 0.2 .. 1.2 with both extremes present."""
    x = np.random.default_rng(0).uniform(0.2, 1.2, (128, 128))
    x[0, 0], x[0, 1] = 0.2, 1.2
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_seeded(clean: np.ndarray, kind: str) -> None:
    a = add_noise(clean, kind, seed=3)
    b = add_noise(clean, kind, seed=3)
    c = add_noise(clean, kind, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.float32 and a.shape == clean.shape
    assert not np.array_equal(a, clean)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_clean_not_modified(clean: np.ndarray, kind: str) -> None:
    before = clean.copy()
    add_noise(clean, kind)
    np.testing.assert_array_equal(clean, before)


def test_gaussian_std(clean: np.ndarray) -> None:
    noise = add_noise(clean, "gaussian", sigma=0.1).astype(np.float64) - clean
    assert noise.std() == pytest.approx(0.1, rel=0.03)
    assert abs(noise.mean()) < 0.003


def test_gaussian_scales_with_range(clean: np.ndarray) -> None:
    big = clean * 500
    noise = add_noise(big, "gaussian", sigma=0.1).astype(np.float64) - big
    assert noise.std() == pytest.approx(50.0, rel=0.03)


def test_salt_pepper_fraction(clean: np.ndarray) -> None:
    noisy = add_noise(clean, "salt-pepper", amount=0.1)
    interior = (clean > 0.2) & (clean < 1.2)
    pepper = (noisy == np.float32(0.2)) & interior
    salt = (noisy == np.float32(1.2)) & interior
    changed = noisy != clean
    assert pepper.mean() == pytest.approx(0.05, abs=0.008)
    assert salt.mean() == pytest.approx(0.05, abs=0.008)
    assert changed.mean() == pytest.approx(0.1, abs=0.01)
    np.testing.assert_array_equal(noisy[~changed], clean[~changed])


def test_poisson_statistics() -> None:
    clean = np.full((200, 200), 0.5, np.float32)
    clean[0, 0] = 1.0  # the max: peak photons
    noisy = add_noise(clean, "poisson", peak=30.0).astype(np.float64)
    flat = noisy[1:, 1:]
    assert flat.mean() == pytest.approx(0.5, rel=0.01)
    # 15 photons at value 0.5: variance 15 / 30**2
    assert flat.var() == pytest.approx(15 / 900, rel=0.05)
    # quantised in steps of one photon
    np.testing.assert_allclose(flat * 30, np.round(flat * 30), atol=1e-4)


def test_poisson_mean_close_to_clean(clean: np.ndarray) -> None:
    noisy = add_noise(clean, "poisson").astype(np.float64)
    assert noisy.mean() == pytest.approx(clean.mean(), rel=0.01)


def test_poisson_gaussian_variance() -> None:
    clean = np.full((200, 200), 0.5, np.float32)
    clean[0, 0], clean[0, 1] = 1.0, 0.0  # range 1
    noisy = add_noise(clean, "poisson-gaussian", peak=30.0, sigma=0.05).astype(np.float64)
    flat = noisy[1:, 1:]
    assert flat.mean() == pytest.approx(0.5, rel=0.01)
    assert flat.var() == pytest.approx(15 / 900 + 0.05**2, rel=0.05)


def test_speckle(clean: np.ndarray) -> None:
    noisy = add_noise(clean, "speckle", sigma=0.2).astype(np.float64)
    ratio = noisy / clean - 1
    assert ratio.std() == pytest.approx(0.2, rel=0.03)
    assert noisy.mean() == pytest.approx(clean.mean(), rel=0.01)


def test_exception_kind(clean: np.ndarray) -> None:
    with pytest.raises(ValueError, match="noise kind"):
        add_noise(clean, "pink")


@pytest.mark.parametrize(("kind", "length"), [("scanline", 3), ("resampled", 3),
                                              ("scanline", 2)])
def test_correlated_noise_has_its_known_autocorrelation(kind: str, length: int) -> None:
    from napari_blind_denoise.core.noise.synthetic import noise_autocorrelation, noise_kernel

    flat = np.full((256, 256), 100.0, np.float32)
    noise = add_noise(flat, kind, sigma=0.1, peak=1e4, length=length, seed=1) - flat
    true = noise_autocorrelation(noise_kernel(kind, length), 2)
    n = noise.astype(np.float64) - noise.mean()
    for dy in range(3):
        for dx in range(3):
            a = n[: n.shape[0] - dy, : n.shape[1] - dx]
            b = n[dy:, dx:]
            rho = (a * b).mean() / n.var()
            assert rho == pytest.approx(true[2 + dy, 2 + dx], abs=0.03), (dy, dx)
