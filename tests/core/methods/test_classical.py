"""The calibrated classical filter: the J-invariant loss, the choice it makes on noisy,
clean and correlated-noise images, save/load, Stop and the time budget."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_blind_denoise.core import (
    BlendConfig,
    TrainingSession,
    add_noise,
    default_config,
    load_model,
    predict,
    psnr,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.masking import GridMasker
from napari_blind_denoise.core.methods.classical import (
    FAMILIES,
    apply_filter,
    invariant_loss,
    probes,
)
from napari_blind_denoise.core.pipeline import PipelineResult, compare_with_classical, run_pipeline
from tests.conftest import make_blobs

SIGMAS = [p["sigma"] for p in FAMILIES["gaussian"].grid(1.0)]  # the Gaussian candidates
SAMPLE = Path(__file__).resolve().parents[3] / "src/napari_blind_denoise/data/nuclei_clean.tif"


def config(families=("gaussian",), blind_spot: str | None = None, **train):
    cfg = default_config("classical", **train)
    cfg = replace(cfg, classical=replace(cfg.classical, families=families))
    if blind_spot is not None:
        cfg = replace(cfg, mask=replace(cfg.mask, blind_spot=blind_spot))
    return cfg


def calibrated(noisy, cfg):
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    return trained, run_to_completion(predict(trained, noisy, "YX", device="cpu"))


def test_pixel_partition_loss_is_scikit_images() -> None:
    from scipy.ndimage import gaussian_filter
    from skimage.restoration import calibrate_denoiser

    rng = np.random.default_rng(0)
    x = make_blobs((64, 64), seed=1) + rng.normal(0, 0.1, (64, 64)).astype(np.float32)
    sigmas = [0.5, 1.0, 1.5, 2.0, 3.0]
    _, (_, theirs) = calibrate_denoiser(
        x.astype(np.float64), lambda im, sigma: gaussian_filter(im, sigma, truncate=4.0),
        {"sigma": sigmas}, stride=4, approximate_loss=False, extra_output=True)
    masked = probes([x[None]], GridMasker(4), list(range(16)))
    ours = [invariant_loss(lambda a, s=s: apply_filter("gaussian", {"sigma": s}, a), masked)
            for s in sigmas]
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)


def test_sigma_near_the_best_blur_and_grows_with_the_noise() -> None:
    clean = make_blobs((128, 128), seed=1)
    chosen = {}
    for level in (0.05, 0.15):
        noisy = add_noise(clean, "gaussian", sigma=level, seed=0)
        trained, _ = calibrated(noisy, config())
        sigma = chosen[level] = trained.config.classical.params["sigma"]
        oracle = max(SIGMAS, key=lambda s, n=noisy: psnr(apply_filter("gaussian", {"sigma": s},
                                                                      n[None])[0], clean))
        # tolerance: a factor 1.45, two steps of the candidate grid (ratio 1.19)
        assert abs(np.log(sigma / oracle)) <= np.log(1.45), (level, sigma, oracle)
    assert chosen[0.15] > chosen[0.05] * 1.3


def test_clean_image_gets_a_sub_pixel_blur() -> None:
    clean = tifffile.imread(SAMPLE)[:128, :128].astype(np.float32)
    trained, _ = calibrated(clean, config())
    sigma = trained.config.classical.params["sigma"]
    noisy, _ = calibrated(add_noise(clean, "gaussian", sigma=0.03, seed=0), config())
    assert sigma < 1.0 < noisy.config.classical.params["sigma"]


def test_result_beats_the_noisy_input() -> None:
    clean = make_blobs((96, 96), seed=1)
    noisy = add_noise(clean, "gaussian", sigma=0.1, seed=0)
    # no time budget: every family is tried however busy the machine is
    trained, out = calibrated(noisy, config(("gaussian", "tv", "nlm"), time_budget=None))
    assert psnr(out, clean) > psnr(noisy, clean) + 8.0  # measured: +14.7 dB
    info = trained.info["adapted"]["classical"]
    assert info["filter"] in ("gaussian", "tv", "nlm")
    assert set(info["families"]) == {"gaussian", "tv", "nlm"}
    assert info["loss"] == pytest.approx(min(f["loss"] for f in info["families"].values()))
    assert info["summary"] in str(trained.model)


def test_wavelet_family_calibrates_a_threshold_that_denoises() -> None:
    """Wavelet shrinkage (PyWavelets): the chosen threshold is one of its grid's, neither
    end of it (the loss has an interior minimum), and the result beats the input."""
    pytest.importorskip("pywt", reason="the wavelet family needs PyWavelets ([classical])")
    clean = make_blobs((96, 96), seed=1)
    noisy = add_noise(clean, "gaussian", sigma=0.1, seed=0)
    trained, out = calibrated(noisy, config(("wavelet",), time_budget=None))
    info = trained.info["adapted"]["classical"]
    grid = [p["sigma"] for p in FAMILIES["wavelet"].grid(info["noise_std"])]
    assert info["filter"] == "wavelet" and info["params"]["sigma"] in grid
    assert grid[0] < info["params"]["sigma"] < grid[-1]
    assert psnr(out, clean) > psnr(noisy, clean) + 5.0  # measured: +8.7 dB, 3rd of 7 σ


def test_structured_partition_smooths_correlated_noise_more() -> None:
    clean = make_blobs((256, 256), seed=3) * 200.0 + 20.0
    noisy = add_noise(clean, "scanline", sigma=0.1, length=3, seed=2)
    rng = float(np.ptp(clean))
    pixel, out_pixel = calibrated(noisy, config(blind_spot="pixel"))
    auto, out_auto = calibrated(noisy, config())
    assert auto.config.mask.hide[1] >= 2  # the measured X correlation, plus a margin
    s_pixel = pixel.config.classical.params["sigma"]
    s_auto = auto.config.classical.params["sigma"]
    # measured: sigma 0.30 (no smoothing, 20.1 dB) against 5.03 (37.6 dB)
    assert s_auto > 2 * s_pixel
    assert psnr(out_auto, clean, data_range=rng) > psnr(out_pixel, clean, data_range=rng) + 5


def test_save_load_round_trip(tmp_path: Path) -> None:
    noisy = add_noise(make_blobs((48, 64), seed=2), "gaussian", sigma=0.1, seed=1)
    trained, out = calibrated(noisy, config(("gaussian", "tv")))
    folder = save_model(trained, tmp_path / "model")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["config"]["classical"]["filter"] == trained.config.classical.filter
    assert meta["config"]["classical"]["params"] == trained.config.classical.params
    loaded = load_model(folder)
    assert loaded.config == trained.config
    again = run_to_completion(predict(loaded, noisy, "YX", device="cpu"))
    np.testing.assert_array_equal(again, out)


def test_a_stack_is_calibrated_and_filtered_plane_by_plane() -> None:
    planes = [add_noise(make_blobs((48, 48), seed=s), "gaussian", sigma=0.1, seed=s)
              for s in range(4)]
    stack = np.stack(planes)
    trained = run_to_completion(train(stack, "ZYX", config(), device="cpu"))
    out = run_to_completion(predict(trained, stack, "ZYX", device="cpu"))
    for z in range(4):
        one = apply_filter("gaussian", trained.config.classical.params,
                           trained.norm.normalize(stack[z][None]))
        np.testing.assert_allclose(out[z], trained.norm.denormalize(one)[0], atol=1e-4)


def test_stop_keeps_the_best_so_far() -> None:
    noisy = add_noise(make_blobs((64, 64), seed=2), "gaussian", sigma=0.1, seed=1)
    session = TrainingSession(noisy, "YX", config(), device="cpu")
    gen = session.run()
    events = [next(gen), next(gen), next(gen)]
    session.stop()
    trained = run_to_completion(gen)
    assert trained.info["steps"] == 3 < events[0].n_steps  # the next candidate is abandoned
    assert trained.info["stopped_early"]
    assert trained.info["best_val_loss"] == min(e.loss for e in events)
    assert trained.config.classical.params["sigma"] in SIGMAS[:3]


def test_stop_before_the_start_still_gives_a_filter() -> None:
    noisy = add_noise(make_blobs((64, 64), seed=2), "gaussian", sigma=0.1, seed=1)
    session = TrainingSession(noisy, "YX", config(("gaussian", "nlm")), device="cpu")
    stop = threading.Event()
    stop.set()
    result = run_to_completion(run_pipeline(session, stop=stop))
    assert result.trained.info["steps"] == 1 and result.complete  # prediction follows
    assert result.images["denoised"].shape == noisy.shape


def test_time_budget_is_respected() -> None:
    noisy = add_noise(make_blobs((128, 128), seed=2), "gaussian", sigma=0.1, seed=1)
    events, trained = run_events(noisy, config(("gaussian", "tv", "nlm"), time_budget=0.3))
    assert len(events) < events[0].n_steps  # 34 candidates take several seconds
    assert events[-1].elapsed < 0.3 + 1.5  # ends after the candidate that crossed it
    assert events[-1].notice and "calibrated" in events[-1].notice
    assert trained.info["adapted"]["classical"]["candidates_tried"] == len(events)


def slow_tv(monkeypatch, seconds: float) -> None:
    """Make the TV family cost ``seconds`` per 64² window (its filter sleeps by area)."""
    import time

    from napari_blind_denoise.core.methods import classical

    def apply(x, p):
        time.sleep(seconds * x.size / 64**2)
        return x

    monkeypatch.setitem(classical.FAMILIES, "tv", replace(classical.FAMILIES["tv"], apply=apply))


def run_events(noisy, cfg):
    events, gen = [], train(noisy, "YX", cfg, device="cpu")
    while True:
        try:
            events.append(next(gen))
        except StopIteration as done:
            return events, done.value


def test_a_family_that_cannot_finish_in_the_budget_is_skipped_whole(monkeypatch) -> None:
    # 8 TV candidates x 4 probes x (128/64)² x 0.02 s ≈ 2.6 s projected, over a 1.5 s budget
    slow_tv(monkeypatch, 0.02)
    noisy = add_noise(make_blobs((128, 128), seed=2), "gaussian", sigma=0.1, seed=1)
    events, trained = run_events(noisy, config(("gaussian", "tv"), time_budget=1.5))
    info = trained.info["adapted"]["classical"]
    assert set(info["families"]) == {"gaussian"} and "tv" in info["skipped"]
    assert info["skipped"]["tv"] > 1.5
    assert len(events) == len(SIGMAS) == events[-1].n_steps  # the last event knows it is
    assert "not tried within the 1.5 s budget" in events[-1].notice
    assert "total-variation" in events[-1].notice


def test_a_family_with_time_for_all_its_candidates_runs(monkeypatch) -> None:
    slow_tv(monkeypatch, 0.0005)  # ≈ 0.06 s projected
    noisy = add_noise(make_blobs((128, 128), seed=2), "gaussian", sigma=0.1, seed=1)
    events, trained = run_events(noisy, config(("gaussian", "tv"), time_budget=30.0))
    info = trained.info["adapted"]["classical"]
    assert set(info["families"]) == {"gaussian", "tv"} and info["skipped"] == {}
    assert len(events) == len(SIGMAS) + len(FAMILIES["tv"].grid(1.0))


def test_the_default_budget_is_seconds() -> None:
    from napari_blind_denoise.core.methods.classical import CALIBRATION_BUDGET

    assert default_config("classical").train.time_budget == CALIBRATION_BUDGET <= 15
    assert default_config("classical", time_budget=60).train.time_budget == 60


# -- the yardstick -------------------------------------------------------------------------

class Oracle(torch.nn.Module):
    """Returns the clean image whatever it is given: the best denoiser there is."""

    def __init__(self, clean: np.ndarray) -> None:
        super().__init__()
        self.clean = torch.from_numpy(clean)[None, None]
        self.placeholder = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.clean.expand_as(x)


def test_yardstick_warns_about_an_untrained_network() -> None:
    noisy = add_noise(make_blobs((64, 64), seed=2), "gaussian", sigma=0.1, seed=1)
    cfg = default_config("n2s", steps=1, patch_size=32, batch_size=2, val_patches=2)
    session = TrainingSession(noisy, "YX", cfg, device="cpu")
    result = run_to_completion(run_pipeline(session, yardstick=True))
    assert result.yardstick is not None and not result.yardstick["network_better"]
    warning = result.warnings[-1]
    assert "scores better on this image than the trained Noise2Self" in warning
    assert "self-supervised" in warning and "not a comparison with a clean image" in warning
    assert result.yardstick["classical"] in warning


def test_yardstick_is_silent_for_a_better_denoiser() -> None:
    clean = make_blobs((64, 64), seed=2)
    noisy = add_noise(clean, "gaussian", sigma=0.1, seed=1)
    cfg = default_config("n2s", steps=1, patch_size=32, batch_size=2, val_patches=2)
    # the network is replaced by the truth below: no blend calibrated for the one before
    cfg = replace(cfg, blend=BlendConfig(mode="off"))
    session = TrainingSession(noisy, "YX", cfg, device="cpu")
    trained = run_to_completion(session.run())
    trained.model = Oracle(trained.norm.normalize(clean[None])[0])
    result = PipelineResult(trained)
    compare_with_classical(result, noisy, session.layout)
    assert result.yardstick["network_better"] and result.warnings == []
    assert result.yardstick["network_loss"] < result.yardstick["classical_loss"]


def test_yardstick_skips_images_with_unknown_pixels() -> None:
    noisy = add_noise(make_blobs((64, 64), seed=2), "gaussian", sigma=0.1, seed=1)
    noisy[20:30, 20:30] = np.nan  # Self2Self fills such pixels in; the filters cannot
    cfg = default_config("s2s", steps=1, patch_size=32, batch_size=2, val_patches=2)
    session = TrainingSession(noisy, "YX", cfg, device="cpu")
    result = run_to_completion(run_pipeline(session, yardstick=True))
    assert result.complete and result.yardstick is None


# -- choosing between families on a noisy loss ---------------------------------------------

def _errors(per_tile: np.ndarray):
    from napari_blind_denoise.core.methods.classical import Errors

    return Errors(per_tile * 10.0, np.full(per_tile.size, 10.0))


def _record_reference_then(candidate, significance: float):
    from napari_blind_denoise.core.methods.classical import _Calibration

    rng = np.random.default_rng(0)
    reference = 1.0 + rng.normal(0, 0.1, 64)
    state = _Calibration(noise=0.1, total=2, significance=significance)
    state.record("gaussian", {"sigma": 1.0}, _errors(reference))
    state.record("tv", {"weight": 0.1}, _errors(candidate(reference, rng)))
    return state


def test_a_family_lower_by_less_than_its_noise_does_not_replace_the_gaussian() -> None:
    def chance(reference, rng):  # 0.5 % lower on average, tile by tile ±5 %
        return reference * 0.995 + rng.normal(0, 0.05, reference.size)

    state = _record_reference_then(chance, significance=2.0)
    assert state.per_family["tv"]["loss"] < state.per_family["gaussian"]["loss"]
    assert state.per_family["tv"]["advantage"] < 2.0
    assert state.best[1] == "gaussian"
    notice = state.fitted(config()).notice
    assert "total-variation filter" in notice and "standard errors" in notice
    # without the rule (the lowest loss wins) the same losses choose TV
    assert _record_reference_then(chance, significance=0.0).best[1] == "tv"


def test_a_family_clearly_better_replaces_the_gaussian() -> None:
    def better(reference, rng):  # 5 % lower on every tile, ±0.5 %
        return reference * 0.95 + rng.normal(0, 0.005, reference.size)

    state = _record_reference_then(better, significance=2.0)
    assert state.per_family["tv"]["advantage"] > 10
    assert state.best[1] == "tv"
    assert "standard errors" not in state.fitted(config()).notice


def test_tiles_cover_every_scored_point_once() -> None:
    from napari_blind_denoise.core.methods.classical import invariant_errors

    rng = np.random.default_rng(1)
    windows = [rng.normal(size=(1, 70, 100)).astype(np.float32) for _ in range(2)]
    masked = probes(windows, GridMasker(4), list(range(16)))
    errors = invariant_errors(lambda a: np.zeros_like(a), masked)
    # 16 phases of a period-4 grid score every pixel once; tiles of 32 px: 3 x 4 per window
    assert errors.counts.size == 2 * 3 * 4 and errors.counts.sum() == 2 * 70 * 100
    assert errors.loss == pytest.approx(np.mean([w.astype(np.float64) ** 2 for w in windows]))
    assert errors.advantage(errors) == 0.0
