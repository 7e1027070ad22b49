"""n2v and n2s blended with a calibrated filter: the weight is the least-squares one on the
J-invariant predictions, prediction is the blend, it is saved with the model, ``off`` and a
stop request leave the network alone, and on correlated noise the blend beats both parts."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    BlendConfig,
    TileConfig,
    add_noise,
    load_model,
    predict,
    psnr,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.methods.blend import blend_weight, describe, unavailable
from napari_blind_denoise.core.methods.classical import apply_filter
from napari_blind_denoise.core.train import TrainingSession
from tests.conftest import make_blobs, tiny_config

WHOLE = TileConfig(tile_size=256, overlap=0, tta=False)  # one tile: no tile borders


def _blurred(trained, noisy: np.ndarray) -> np.ndarray:
    """``noisy`` through the calibrated filter of ``trained``'s blend, in image units."""
    blend, norm = trained.config.blend, trained.norm
    x = norm.normalize(noisy[None].astype(np.float32))
    return norm.denormalize(apply_filter(blend.filter, blend.params, x))[0]


def test_the_weight_is_the_least_squares_one() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=20000), rng.normal(size=20000)
    y = 0.3 * a + 0.7 * b + rng.normal(0, 0.5, a.size)  # noise independent of both
    assert blend_weight(a, b, y) == pytest.approx(0.3, abs=0.02)
    assert blend_weight(a, b, 2 * a - b) == 1.0  # clipped
    assert blend_weight(a, b, 2 * b - a) == 0.0
    assert blend_weight(a, a, y) == 1.0  # nothing to choose: the network


def test_config_checks_and_round_trip() -> None:
    with pytest.raises(ValueError, match="blend must be"):
        BlendConfig(mode="on")
    with pytest.raises(ValueError, match="needs its filter"):
        BlendConfig(weight=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BlendConfig(filter="gaussian", params={"sigma": 1.0}, weight=1.5)
    cfg = replace(tiny_config("n2s"), blend=BlendConfig(filter="gaussian",
                                                        params={"sigma": 1.5}, weight=0.4))
    assert type(cfg).from_dict(cfg.to_dict()) == cfg
    assert "Gaussian blur" in describe(cfg) and "0.40" in describe(cfg)
    assert describe(replace(cfg, blend=BlendConfig())) == ""
    three_d = replace(cfg, model=replace(cfg.model, dims=3))
    assert "3-D" in unavailable(three_d) and unavailable(cfg) == ""


@pytest.fixture(scope="module")
def scan() -> tuple[np.ndarray, np.ndarray]:
    """A 128² image with scan-line noise (3-pixel box along X)."""
    clean = make_blobs((128, 128), seed=3, n=40) * 400.0 + 100.0
    return add_noise(clean, "scanline", sigma=0.15, length=3, seed=1), clean


@pytest.fixture(scope="module")
def blended(scan):
    cfg = tiny_config("n2s", steps=40, blend="auto")
    return run_to_completion(train(scan[0], "YX", cfg, device="cpu"))


def test_training_calibrates_the_blend_on_the_network_blind_spot(blended) -> None:
    blend, info = blended.config.blend, blended.info["blend"]
    assert blend.mode == "auto" and blend.filter == "gaussian" and blend.params["sigma"] > 0
    assert 0.0 <= blend.weight <= 1.0 and info["weight"] == blend.weight
    assert info["partition"] == blended.config.mask.blind_spot == "3x7"
    # the least-squares blend is never worse than either part on the loss it minimises
    assert info["blend_loss"] <= min(info["network_loss"], info["filter_loss"]) + 1e-9
    # the one-pass blur takes the larger of the J-invariant σ and the risk's σ
    invariant = float(info["invariant_filter"].split("σ = ")[1].split(" ")[0])
    assert blend.params["sigma"] == pytest.approx(max(invariant, info["risk_sigma"]), abs=0.01)


def test_prediction_is_the_blend_and_is_saved(blended, scan, tmp_path) -> None:
    noisy = scan[0]
    out = run_to_completion(predict(blended, noisy, "YX", tile=WHOLE, device="cpu"))
    alone = replace(blended.config, blend=BlendConfig(mode="off"))
    net = run_to_completion(predict(replace(blended, config=alone), noisy, "YX", tile=WHOLE,
                                    device="cpu"))
    blend = blended.config.blend
    expected = blend.weight * net + (1 - blend.weight) * _blurred(blended, noisy)
    span = float(np.ptp(expected))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4 * span)
    assert np.abs(out - net).max() > 1e-3 * span  # the blend changed something
    again = load_model(save_model(blended, tmp_path / "model"))
    assert again.config.blend == blend
    np.testing.assert_allclose(
        run_to_completion(predict(again, noisy, "YX", tile=WHOLE, device="cpu")), out,
        rtol=0, atol=1e-5 * span)


def test_weight_zero_skips_the_network(blended, scan) -> None:
    """A network weight of 0: the result is the calibrated filter, the network never runs."""
    noisy = scan[0]
    zero = replace(blended.config, blend=replace(blended.config.blend, weight=0.0))
    calls = []
    hook = blended.model.register_forward_hook(lambda *a: calls.append(1))
    try:
        out = run_to_completion(predict(replace(blended, config=zero), noisy, "YX",
                                        tile=WHOLE, device="cpu"))
    finally:
        hook.remove()
    assert calls == []
    expected = _blurred(blended, noisy)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5 * float(np.ptp(expected)))


def test_off_and_stop_leave_the_network_alone(scan) -> None:
    noisy = scan[0]
    cfg = tiny_config("n2v", steps=4)  # blend off
    off = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    assert off.config.blend.weight is None and "blend" not in off.info
    stop = threading.Event()
    stop.set()  # a stop request: training ends at once, the calibration is skipped
    session = TrainingSession(noisy, "YX", tiny_config("n2v", steps=4, blend="auto"),
                              device="cpu")
    stopped = run_to_completion(session.run(stop=stop))
    assert stopped.info["blend"] == "stopped" and not stopped.config.blend.active
    x = torch.from_numpy(stopped.norm.normalize(noisy[None, None].astype(np.float32)))
    infer = stopped.spec.inferrer(stopped, "unmasked")
    with torch.inference_mode():
        torch.testing.assert_close(infer(stopped.model, x), stopped.model(x).float())


class Fixed(torch.nn.Module):
    """A "network" whose output is a given image whatever it is given (J-invariant)."""

    def __init__(self, image: np.ndarray) -> None:
        super().__init__()
        self.image = torch.from_numpy(image.astype(np.float32))[None, None]
        self.placeholder = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]  # prediction first probes a smaller tile: any part will do
        return self.image[..., :h, :w].expand_as(x)


def test_on_correlated_noise_the_blend_beats_both_parts(blended, scan) -> None:
    """A denoiser as good as the calibrated blur but wrong in its own way (the truth plus a
    smooth error of its own) and the blur: the blend chosen from the noisy image alone is
    better than either, by the clean image."""
    from scipy.ndimage import gaussian_filter

    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.methods.blend import calibrate_blend

    noisy, clean = scan
    norm = blended.norm
    blur = _blurred(blended, noisy)
    peak = float(clean.max() - clean.min())
    error = gaussian_filter(np.random.default_rng(7).normal(size=clean.shape), 1.0)
    error *= np.sqrt(np.mean((blur - clean) ** 2)) / error.std()  # the blur's error size
    own = replace(blended, model=Fixed(norm.normalize((clean + error)[None])[0]),
                  config=replace(blended.config, blend=BlendConfig()), info={})
    cfg, info = calibrate_blend(own, noisy, check_image(noisy, "YX"))
    own.config = cfg
    out = run_to_completion(predict(own, noisy, "YX", tile=WHOLE, device="cpu"))
    scores = [psnr(v, clean, data_range=peak) for v in (clean + error, blur, out)]
    assert 0.2 < cfg.blend.weight < 0.8, (info, scores)
    assert scores[2] > max(scores[:2]) + 1.0, scores


@pytest.mark.parametrize(("kind", "length"), [("scanline", 3), ("resampled", 3),
                                              ("poisson-gaussian", 1)])
def test_the_risk_sigma_is_the_best_blur(kind: str, length: int) -> None:
    """The one-pass blur's σ from its unbiased risk: with the noise's true autocorrelation
    it is the best σ chosen with the clean image, on correlated and independent noise; with
    the autocorrelation measured from the noisy image it may err small (the second
    difference's gain on strongly correlated noise is a near-cancellation that small errors
    in the measured correlation inflate, so the noise level comes out low) but not large
    (at most one step of the grid above the best): the blend takes the larger of it and the
    J-invariant σ."""
    from scipy.ndimage import gaussian_filter

    from napari_blind_denoise.core import validate_axes
    from napari_blind_denoise.core.methods.blend import risk_sigma
    from napari_blind_denoise.core.methods.classical import FAMILIES
    from napari_blind_denoise.core.noise.correlation import noise_autocorrelation_debiased
    from napari_blind_denoise.core.noise.synthetic import noise_autocorrelation, noise_kernel

    clean = gaussian_filter(make_blobs((256, 256), seed=5, n=60), 1.5) * 300.0 + 40.0
    noisy = add_noise(clean, kind, sigma=0.08, peak=40.0, length=length, seed=3)
    m, s = float(noisy.mean()), float(noisy.std())
    window = ((noisy - m) / s)[None]
    sigmas = [p["sigma"] for p in FAMILIES["gaussian"].grid(0.0)]
    peak = float(clean.max() - clean.min())
    score = {v: psnr(gaussian_filter(noisy.astype(np.float64), v), clean, data_range=peak)
             for v in sigmas}
    best = max(score.values())
    true = (noise_autocorrelation(noise_kernel(kind, length), 4) if length > 1
            else np.pad([[1.0]], 4))
    assert score[risk_sigma([window], true, sigmas)] > best - 0.1, score
    measured = noise_autocorrelation_debiased(noisy, validate_axes("YX", noisy.shape))
    chosen = risk_sigma([window], measured, sigmas)
    oracle = max(score, key=score.get)
    assert sigmas.index(chosen) <= sigmas.index(oracle) + 1, (chosen, oracle)
