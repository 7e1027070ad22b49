"""PSNR, SSIM, affine fitting and the score dict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_blind_denoise.core import fit_affine, psnr, score, ssim


def ramp(shape: tuple[int, int] = (32, 40)) -> np.ndarray:
    """Reference with range exactly 1 (0 .. 1)."""
    return np.linspace(0, 1, shape[0] * shape[1]).reshape(shape)


@pytest.mark.parametrize(("error", "expected"), [(0.1, 20.0), (0.01, 40.0), (-0.5, 6.0206)])
def test_psnr_constant_error(error: float, expected: float) -> None:
    ref = ramp()
    assert psnr(ref + error, ref) == pytest.approx(expected, abs=1e-3)


def test_psnr_data_range() -> None:
    ref = ramp()
    assert psnr(ref + 1.0, ref, data_range=255.0) == pytest.approx(20 * math.log10(255))


def test_psnr_scale_invariant_in_units() -> None:
    ref = ramp()
    pred = ref + np.random.default_rng(0).normal(0, 0.05, ref.shape)
    assert psnr(1000 * pred + 7, 1000 * ref + 7) == pytest.approx(psnr(pred, ref))


def test_psnr_identical_is_inf() -> None:
    ref = ramp()
    assert psnr(ref.copy(), ref) == math.inf


def test_psnr_constant_reference_uses_unit_range() -> None:
    ref = np.full((8, 8), 3.0)
    assert psnr(ref + 0.1, ref) == pytest.approx(20.0)


def test_fit_affine_recovers_scale_and_offset(rng: np.random.Generator) -> None:
    x = rng.normal(size=(20, 30))
    ref = 3.5 * x - 2.0
    np.testing.assert_allclose(fit_affine(x, ref), ref, rtol=1e-10, atol=1e-10)
    assert fit_affine(x, ref).dtype == np.float64


def test_fit_affine_least_squares(rng: np.random.Generator) -> None:
    x = rng.normal(size=500)
    ref = 2 * x + 1 + rng.normal(0, 0.5, 500)
    fitted = fit_affine(x, ref)
    a, b = np.polyfit(x, ref, 1)
    np.testing.assert_allclose(fitted, a * x + b, rtol=1e-8)


def test_fit_affine_constant_prediction() -> None:
    ref = np.arange(10.0)
    np.testing.assert_allclose(fit_affine(np.ones(10), ref), ref.mean())


def test_ssim() -> None:
    ref = np.random.default_rng(0).random((48, 48))
    assert ssim(ref, ref) == pytest.approx(1.0)
    noisy = ref + np.random.default_rng(1).normal(0, 0.3, ref.shape)
    assert ssim(noisy, ref) < 0.9


def test_ssim_stack_is_plane_average() -> None:
    rng = np.random.default_rng(0)
    ref = rng.random((2, 48, 48))
    pred = ref + rng.normal(0, 0.1, ref.shape) * np.array([0.5, 2.0])[:, None, None]
    rng_ = float(ref.max() - ref.min())
    planes = [ssim(pred[i], ref[i], data_range=rng_) for i in range(2)]
    assert ssim(pred, ref) == pytest.approx(np.mean(planes))


def test_score() -> None:
    ref = ramp((48, 48))
    pred = 2 * ref + 5  # perfect up to scale and offset
    s = score(pred, ref)
    assert set(s) == {"psnr", "ssim", "psnr_fit", "ssim_fit"}
    assert s["psnr_fit"] == math.inf or s["psnr_fit"] > 100
    assert s["ssim_fit"] == pytest.approx(1.0)
    assert s["psnr"] < 10
    assert all(isinstance(v, float) for v in s.values())


def test_score_data_range() -> None:
    ref = ramp((48, 48))
    pred = ref + np.random.default_rng(0).normal(0, 0.05, ref.shape)
    s = score(pred, ref, data_range=10.0)
    assert s["psnr"] == pytest.approx(psnr(pred, ref, data_range=10.0))
    assert s["psnr"] == pytest.approx(score(pred, ref)["psnr"] + 20.0)
    assert s["ssim"] == pytest.approx(ssim(pred, ref, data_range=10.0))
