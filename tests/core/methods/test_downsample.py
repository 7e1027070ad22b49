"""Pixel-shuffle downsampling for n2v and n2s: config, auto rule, batches, training."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    add_noise,
    get_method,
    load_model,
    predict,
    run_to_completion,
    save_model,
    train,
    validate_axes,
)
from napari_blind_denoise.core.config import MaskConfig
from napari_blind_denoise.core.methods.blindspot import auto_downsample
from tests.conftest import make_blobs, tiny_config

OLD = Path(__file__).resolve().parents[2] / "data" / "checkpoints-v0.1.0"


def with_downsample(cfg, downsample, **mask):
    return replace(cfg, mask=replace(cfg.mask, downsample=downsample, **mask))


@pytest.fixture(scope="module")
def scanline() -> np.ndarray:
    """Scan-line noise: Gaussian noise filtered by a 3-pixel box along X."""
    clean = make_blobs((256, 256), seed=3) * 200.0 + 20.0
    return add_noise(clean, "scanline", sigma=0.1, length=3, seed=2)


# -- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "parsed"), [(1, 1), (3, 3), ("3", 3), ("auto", "auto"),
                                               (" Auto ", "auto")])
def test_downsample_values(value, parsed) -> None:
    assert MaskConfig(downsample=value).downsample == parsed


@pytest.mark.parametrize("value", [0, -2, "0", "-3", "2.5", 2.0, "x", True, None])
def test_bad_downsample_refused(value) -> None:
    with pytest.raises(ValueError, match="downsample must be 'auto' or a whole number"):
        MaskConfig(downsample=value)


def test_downsample_with_a_block_refused() -> None:
    with pytest.raises(ValueError, match="replaces the 1x5 blind spot"):
        MaskConfig(downsample=3, blind_spot="1x5")


def test_auto_downsample_keeps_a_blind_spot_the_user_chose(scanline) -> None:
    """``downsample="auto"`` acts only with ``blind_spot="auto"``: a user's block (or
    ``pixel``) is trained as chosen, with stride 1."""
    layout = validate_axes("YX", scanline.shape)
    for spot in ("1x5", "pixel"):
        cfg = with_downsample(tiny_config("n2s"), "auto", blind_spot=spot)
        cfg, info = get_method("n2s").adapt(cfg, scanline, layout)
        assert (cfg.mask.blind_spot, cfg.mask.downsample) == (spot, 1)
        assert "pixel_shuffle" not in info


def test_methods_without_downsampling_refuse_it() -> None:
    cfg = with_downsample(tiny_config("nnet"), 3)
    with pytest.raises(ValueError, match="applies to n2v, n2s, not method 'nnet'"):
        get_method("nnet").fit_config(cfg)


def test_old_checkpoints_load_without_downsampling() -> None:
    trained = load_model(OLD / "n2s")
    assert trained.config.mask.downsample == 1
    assert get_method("n2s").inference_modes(trained.config) == ("unmasked", "phases")


# -- the auto rule ---------------------------------------------------------------------------

def test_auto_picks_stride_3_for_scanline_noise_of_length_3(scanline) -> None:
    layout = validate_axes("YX", scanline.shape)
    cfg, info = auto_downsample(with_downsample(tiny_config("n2s"), "auto"), scanline, layout)
    assert cfg.mask.downsample == 3 and info["downsample"] == 3
    assert cfg.mask.blind_spot == "pixel"
    assert "pixel-shuffle stride 3" in info["notice"]
    assert info["pixel_shuffle"] == {"stride": 3, "window": 48, "windows_per_step": 1,
                                     "summary": "pixel-shuffle stride 3"}
    # the tiny config's 32-px patch: sub-images of 16 px, windows of 48, 4*4//9 = 1 window
    assert (cfg.train.patch_size, cfg.train.batch_size) == (48, 1)


def test_auto_stride_is_at_least_3_when_the_measured_extent_is_1() -> None:
    """Resampled noise (3-tap binomial kernel on both axes): the estimator measures an
    extent of 1 (lag 2's 0.17 is under its threshold), yet stride 2 would keep those lag-2
    neighbours in a sub-image."""
    clean = make_blobs((256, 256), seed=3) * 200.0 + 20.0
    noisy = add_noise(clean, "resampled", sigma=0.1, seed=2)
    layout = validate_axes("YX", noisy.shape)
    cfg, info = auto_downsample(with_downsample(tiny_config("n2s"), "auto"), noisy, layout)
    corr = info["noise_correlation"]
    assert max(corr["extent_y"], corr["extent_x"]) == 1
    assert cfg.mask.downsample == 3 and info["downsample"] == 3


def test_auto_picks_1_for_independent_noise() -> None:
    clean = make_blobs((256, 256), seed=3) * 200.0 + 20.0
    noisy = add_noise(clean, "gaussian", sigma=0.05, seed=5)
    cfg0 = with_downsample(tiny_config("n2v"), "auto")
    cfg, info = auto_downsample(cfg0, noisy, validate_axes("YX", noisy.shape))
    assert cfg.mask.downsample == 1 and info["downsample"] == 1
    assert cfg.train == cfg0.train  # nothing else changes
    assert "pixel-shuffle" not in info["notice"] and "pixel_shuffle" not in info


def test_windows_keep_pixels_per_step_as_the_script_did() -> None:
    layout = validate_axes("YX", (512, 512))
    for s in (2, 3):
        cfg = with_downsample(tiny_config("n2s", patch_size=64, batch_size=16), s)
        cfg, _ = auto_downsample(cfg, np.zeros((512, 512), np.float32), layout)
        assert cfg.train.patch_size == 32 * s
        assert cfg.train.batch_size == max(1, 64 // (s * s))


# -- batches and training --------------------------------------------------------------------

@pytest.mark.parametrize("method", ["n2s", "n2v"])
def test_batch_is_of_masked_subimages(method: str) -> None:
    cfg = with_downsample(tiny_config(method), 3, blind_spot="pixel")
    windows = torch.randn(2, 1, 48, 48)
    batch = get_method(method).batch_maker(cfg)([windows], torch.Generator().manual_seed(0))
    assert batch.input.shape == batch.target.shape == batch.mask.shape == (18, 1, 16, 16)
    assert torch.equal(batch.target[4], windows[0, :, 1::3, 1::3])
    scored = batch.mask > 0
    assert scored.any()
    # a masked pixel's own value never reaches the input; unmasked pixels pass unchanged
    assert not torch.any(batch.input[scored] == batch.target[scored])
    changed = batch.input != batch.target
    assert torch.equal(changed, scored) if method == "n2s" else torch.all(changed <= scored)


@pytest.mark.parametrize("method", ["n2s", "n2v"])
def test_trains_with_stride_3_and_predicts_full_resolution(scanline, method: str) -> None:
    noisy = scanline[:96, :80]
    cfg = with_downsample(tiny_config(method, steps=4, val_every=2), 3)
    gen = train(noisy, "YX", cfg, device="cpu")
    notices = []
    while True:
        try:
            notices.append(next(gen).notice or "")
        except StopIteration as stop:
            trained = stop.value
            break
    assert any("pixel-shuffle stride 3" in n for n in notices), notices
    assert trained.config.mask.downsample == 3
    assert trained.info["adapted"]["downsample"] == 3
    assert trained.info["adapted"]["pixel_shuffle"]["summary"] == "pixel-shuffle stride 3"
    assert trained.info["steps"] == 4
    out = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    assert out.shape == noisy.shape and np.isfinite(out).all()
    assert get_method(method).inference_modes(trained.config) == ("unmasked",)


def test_saved_model_keeps_its_stride(scanline, tmp_path: Path) -> None:
    noisy = scanline[:64, :64]
    cfg = with_downsample(tiny_config("n2s", steps=2, val_every=2), 2)
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    loaded = load_model(save_model(trained, tmp_path / "m"))
    assert loaded.config.mask.downsample == 2
    a = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    b = run_to_completion(predict(loaded, noisy, "YX", device="cpu"))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_remedy_names_the_stride() -> None:
    cfg = with_downsample(tiny_config("n2s"), 3, blind_spot="pixel")
    assert "pixel-shuffle stride 3" in get_method("n2s").remedy(cfg)
    assert "stride" not in get_method("n2s").remedy(replace(cfg, mask=MaskConfig(kind="n2s")))


def test_stack_trains_on_subimages_of_its_planes(scanline) -> None:
    stack = np.stack([scanline[:64, :64], scanline[64:128, :64], scanline[128:192, :64]])
    cfg = with_downsample(tiny_config("n2v", steps=2, val_every=2), 2)
    trained = run_to_completion(train(stack, "ZYX", cfg, device="cpu"))
    assert trained.config.mask.downsample == 2
    assert trained.config.train.patch_size % 2 == 0
    out = run_to_completion(predict(trained, stack, "ZYX", device="cpu"))
    assert out.shape == stack.shape and np.isfinite(out).all()


def test_plane_too_small_for_the_stride_is_refused() -> None:
    layout = validate_axes("YX", (40, 40))
    cfg = with_downsample(tiny_config("n2s"), 3, blind_spot="pixel")
    with pytest.raises(ValueError, match="too small for pixel-shuffle stride 3"):
        auto_downsample(cfg, np.zeros((40, 40), np.float32), layout)
