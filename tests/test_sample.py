"""The embedded sample and its napari contribution; end-to-end denoising quality."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import (
    TileConfig,
    default_config,
    predict,
    psnr,
    run_to_completion,
    train,
)
from napari_blind_denoise.sample_data import (
    GAIN,
    OFFSET,
    PEAK_PHOTONS,
    load_sample,
    napari_sample,
    simulate_camera,
)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    return load_sample()


def test_load_sample(sample: tuple[np.ndarray, np.ndarray]) -> None:
    noisy, clean = sample
    assert noisy.shape == clean.shape == (512, 512)
    assert noisy.dtype == np.uint16
    assert clean.dtype == np.float32
    # the reference is the expected camera signal: offset .. offset + gain * peak photons
    assert clean.min() >= OFFSET - 1e-3
    assert clean.max() == pytest.approx(OFFSET + GAIN * PEAK_PHOTONS, rel=1e-5)
    assert abs(float(noisy.mean()) - float(clean.mean())) < 1.0
    assert psnr(noisy, clean) == pytest.approx(19.0, abs=1.0)


def test_simulate_camera_is_seeded(sample: tuple[np.ndarray, np.ndarray]) -> None:
    _, clean = sample
    a, expected = simulate_camera(clean[:64, :64])
    b, _ = simulate_camera(clean[:64, :64])
    c, _ = simulate_camera(clean[:64, :64], seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.dtype == np.uint16 and expected.dtype == np.float32
    assert expected.max() == pytest.approx(OFFSET + GAIN * PEAK_PHOTONS, rel=1e-5)


def test_napari_sample(sample: tuple[np.ndarray, np.ndarray]) -> None:
    layers = napari_sample()
    assert len(layers) == 2
    for data, meta, kind in layers:
        assert kind == "image"
        assert isinstance(data, np.ndarray) and data.shape == (512, 512)
        lo, hi = meta["contrast_limits"]
        assert lo < hi
        assert isinstance(meta["name"], str) and meta["name"]
    (clean, clean_meta, _), (noisy, noisy_meta, _) = layers
    np.testing.assert_array_equal(clean, sample[1])
    np.testing.assert_array_equal(noisy, sample[0])
    assert clean_meta["visible"] is False
    assert noisy_meta.get("visible", True) is True
    assert clean_meta["name"] != noisy_meta["name"]


# Fixed steps, so the machine's speed does not decide the result (the former 45 s budget got
# however many steps a shared machine allowed). Measured 2026-12-01, 200 steps, one thread,
# seeds 0 / 1: n2v +12.08 / +11.58 dB, n2s +12.12 / +11.67 dB (19.08 dB -> about 31 dB).
# Asked: +9.5 dB, 2.1 dB below the worst of the four (the former test asked for 4 dB).
# The measurements: docs/results/2026-12-01-test-margins.txt.
QUALITY_STEPS = 200
QUALITY_MIN_GAIN_DB = 9.5


@pytest.mark.slow
@pytest.mark.parametrize("method", ["n2v", "n2s"])
def test_quality_on_sample(sample: tuple[np.ndarray, np.ndarray], method: str) -> None:
    """The CPU preset gains at least 9.5 dB on the embedded sample in 200 steps."""
    noisy, clean = sample
    config = default_config(method, "cpu", steps=QUALITY_STEPS)
    trained = run_to_completion(train(noisy, "YX", config, device="cpu"))
    result = run_to_completion(predict(trained, noisy, "YX", tile=TileConfig(), device="cpu"))
    before, after = psnr(noisy, clean), psnr(result, clean)
    assert trained.info["steps"] == QUALITY_STEPS
    assert after - before >= QUALITY_MIN_GAIN_DB, (
        f"{method}: {before:.2f} dB -> {after:.2f} dB after {trained.info['steps']} steps")


@pytest.mark.slow
def test_self2self_quality_on_sample(sample: tuple[np.ndarray, np.ndarray]) -> None:
    """The s2s cpu preset gains at least 4 dB on a 256x256 crop of the sample within 60 s of
    training (its ensemble of passes included in the prediction)."""
    noisy, clean = (a[128:384, 128:384] for a in sample)
    config = default_config("s2s", "cpu", time_budget=60, steps=10**9)
    trained = run_to_completion(train(noisy, "YX", config, device="cpu"))
    result = run_to_completion(predict(trained, noisy, "YX", tile=TileConfig(), device="cpu"))
    before, after = psnr(noisy, clean), psnr(result, clean)
    assert after - before >= 4.0, (
        f"s2s: {before:.2f} dB -> {after:.2f} dB after {trained.info['steps']} steps")
