"""Re-noising calibration: the D-net's own error is taken out of the learned noise model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import NoiseModelConfig, noise_curve, run_to_completion, train
from napari_blind_denoise.core.checkpoint import load_model, save_model
from napari_blind_denoise.core.nets.noise_net import Mixture
from napari_blind_denoise.core.noise.calibration import (
    MIN_FACTOR,
    _binned_ratio,
    _factor_map,
    _sample,
    apply_correction,
)
from tests.conftest import make_noisy, tiny_config


def _mixture(k: int = 2, n: int = 5) -> Mixture:
    w = torch.log_softmax(torch.randn(1, k, n, dtype=torch.float64), dim=1)
    means = torch.randn(1, k, n, dtype=torch.float64)
    means = means - (w.exp() * means).sum(dim=1, keepdim=True)
    return Mixture(w, means, torch.rand(1, k, n, dtype=torch.float64) + 0.1)


def test_apply_correction_scales_the_std_by_the_factor() -> None:
    mix = _mixture()
    signal = np.linspace(0.0, 1.0, 5)[None]
    corr = {"signal": [[0.0, 1.0]], "factor": [[1.0, 0.5]]}
    out = apply_correction(mix, signal, corr)
    expected = np.interp(signal[0], [0.0, 1.0], [1.0, 0.5])
    np.testing.assert_allclose(out.total_std(dim=1)[0].numpy(),
                               mix.total_std(dim=1)[0].numpy() * expected, rtol=1e-6)
    assert torch.equal(out.log_weights, mix.log_weights)
    assert apply_correction(mix, signal, None) is mix


def test_binned_ratio_removes_the_error_variance() -> None:
    rng = np.random.default_rng(0)
    signal = rng.uniform(0, 1, 20_000)
    var = np.full_like(signal, 4.0)
    err2 = np.where(signal < 0.5, 1.0, 3.0)  # 25 % and 75 % of the model's variance
    edges = np.linspace(0, 1, 5)
    ratio = _binned_ratio(signal, err2, var, edges)
    np.testing.assert_allclose(ratio, [0.75, 0.75, 0.25, 0.25], atol=1e-9)
    # more error than variance: floored, never a negative variance
    floor = _binned_ratio(signal, err2 * 10, var, edges)
    assert floor.min() == pytest.approx(MIN_FACTOR**2)


def test_sample_draws_from_the_mixture() -> None:
    mix = Mixture(torch.log(torch.tensor([0.25, 0.75]))[None, None, :, None, None].expand(
        1, 1, 2, 200, 200).contiguous(),
        torch.tensor([-0.3, 0.1])[None, None, :, None, None].expand(1, 1, 2, 200, 200),
        torch.tensor([0.05, 0.2])[None, None, :, None, None].expand(1, 1, 2, 200, 200))
    draws = _sample(mix, torch.full((1, 1, 200, 200), 2.0), torch.Generator().manual_seed(0))
    expected_std = 2.0 * float(mix.total_std()[0, 0, 0, 0])
    assert float(draws.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(draws.std()) == pytest.approx(expected_std, rel=0.02)


def test_factor_map_interpolates_per_channel() -> None:
    signal = torch.tensor([[[[0.0, 0.5]], [[1.0, 0.25]]]])  # (B=1, C=2, Y=1, X=2)
    grid = np.array([[0.0, 1.0], [0.0, 1.0]])
    factor = np.array([[1.0, 0.5], [0.8, 0.6]])
    np.testing.assert_allclose(_factor_map(grid, factor, signal).numpy(),
                               [[[[1.0, 0.75]], [[0.6, 0.75]]]], rtol=1e-6)


def test_j_invariant_output_ignores_the_predicted_pixel() -> None:
    from napari_blind_denoise.core.masking.n2s import GridMasker

    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    y = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        a = GridMasker(4).predict_hidden(net, y)
        y2 = y.clone()
        y2[0, 0, 5, 6] += 100.0
        b = GridMasker(4).predict_hidden(net, y2)
    assert torch.allclose(a[0, 0, 5, 6], b[0, 0, 5, 6]), "f_J(y) at a pixel used its value"
    assert not torch.allclose(a, b)


@pytest.fixture(scope="module")
def noisy() -> np.ndarray:
    return make_noisy((96, 96), seed=4)[0]


def test_trained_model_carries_the_correction(noisy: np.ndarray, tmp_path) -> None:
    cfg = tiny_config("nnet", steps=20)
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    corr = trained.info["noise_correction"]
    fac = np.asarray(corr["factor"])
    assert fac.shape == (1, 32)
    assert (fac >= MIN_FACTOR - 1e-9).all() and (fac <= 1 + 1e-9).all()
    assert np.all(np.diff(np.asarray(corr["signal"])[0]) > 0)
    save_model(trained, tmp_path / "m")
    back = load_model(tmp_path / "m")
    np.testing.assert_allclose(noise_curve(back)[1], noise_curve(trained)[1], rtol=1e-5)

    raw = replace(cfg, noise_model=NoiseModelConfig(calibrate=False))
    plain = run_to_completion(train(noisy, "YX", raw, device="cpu"))
    assert "noise_correction" not in plain.info
    # same seed and steps: the calibrated curve is the plain one times the factors (<= 1)
    _, std_cal = noise_curve(trained)
    _, std_raw = noise_curve(plain)
    assert np.all(std_cal <= std_raw * (1 + 1e-5))
