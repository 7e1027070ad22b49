"""Self2Self: Bernoulli batches scored on dropped pixels, the dropout ensemble and its
spread, unknown pixels, save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    InputError,
    PredictEvent,
    default_config,
    load_model,
    predict,
    psnr,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.config import ModelConfig, Self2SelfConfig
from napari_blind_denoise.core.data.exclude import exclude_pixels
from napari_blind_denoise.core.methods import get_method
from napari_blind_denoise.core.methods.self2self import bernoulli_input, ensemble_stats
from napari_blind_denoise.core.nets import Self2SelfNet
from napari_blind_denoise.core.pipeline import apply_pipeline
from tests.conftest import make_blobs, make_noisy

TINY = {"steps": 6, "patch_size": 32, "batch_size": 2, "val_every": 3, "val_patches": 2}


def tiny_config(**kw):
    """The cpu preset shrunk to a few seconds: a narrow, shallow net and few passes."""
    from dataclasses import replace

    cfg = default_config("s2s", "cpu", **{**TINY, **kw})
    return replace(cfg, model=ModelConfig(depth=2, base_channels=6),
                   self2self=replace(cfg.self2self, passes=4, pass_batch=3))


def test_batches_score_the_dropped_pixels() -> None:
    make = get_method("s2s").batch_maker(default_config("s2s"))
    noisy = torch.rand(4, 1, 64, 64)
    noisy[0, 0, :8] = float("nan")  # known-corrupted rows
    batch = make([noisy], torch.Generator().manual_seed(0))
    kept = torch.isfinite(batch.input)
    known = torch.isfinite(noisy)
    assert kept.float()[1:].mean().item() == pytest.approx(0.7, abs=0.02)
    assert not kept[0, 0, :8].any() and batch.mask[0, 0, :8].sum() == 0  # never in, never scored
    torch.testing.assert_close(batch.mask, (~kept & known).float())
    torch.testing.assert_close(batch.input[kept], noisy[kept])
    assert torch.isfinite(batch.target).all()


def test_ensemble_deviation_shrinks_with_passes() -> None:
    torch.manual_seed(0)
    net = Self2SelfNet(ModelConfig(depth=2, base_channels=8), dropout=0.3).eval()
    x = torch.rand(1, 1, 32, 32)

    def mean_of(passes: int, seed: int) -> torch.Tensor:
        cfg = Self2SelfConfig(passes=passes, pass_batch=16)
        with torch.no_grad():
            return ensemble_stats(net, x, cfg, torch.Generator().manual_seed(seed))[0]

    reference = mean_of(512, 99)
    dev = {n: np.mean([float((mean_of(n, s) - reference).pow(2).mean().sqrt())
                       for s in range(4)]) for n in (2, 8, 32)}
    assert dev[2] > dev[8] > dev[32]
    assert dev[32] < dev[2] / 2.5  # ~1/sqrt(N): 4x smaller at 16x the passes


def test_ensemble_spread_is_the_std_of_the_passes() -> None:
    torch.manual_seed(0)
    net = Self2SelfNet(ModelConfig(depth=1, base_channels=4), dropout=0.3).eval()
    x = torch.rand(1, 1, 16, 16)
    cfg = Self2SelfConfig(passes=5, pass_batch=2)
    with torch.no_grad():
        mean, std = ensemble_stats(net, x, cfg, torch.Generator().manual_seed(3))
        gen = torch.Generator().manual_seed(3)
        passes = []
        for k in (2, 2, 1):  # the same draws, in the same order
            inp, _ = bernoulli_input(x.expand(k, 1, 16, 16), 0.7, gen)
            passes.append(net(inp, generator=gen))
    passes = torch.cat(passes)
    torch.testing.assert_close(mean[0], passes.mean(0))
    torch.testing.assert_close(std[0], passes.std(0, unbiased=False), atol=1e-5, rtol=1e-4)


def test_ensemble_spread_stays_accurate_far_from_zero() -> None:
    """The passes merged batch by batch (running mean and M2) match numpy's float64 std of
    the stacked passes even when the spread is ~1e-5 of the mean, where a float32 sum of
    squares minus the squared sum loses it entirely."""
    torch.manual_seed(0)
    net = Self2SelfNet(ModelConfig(depth=1, base_channels=4), dropout=0.3).eval()

    def shifted(inp, generator=None):
        return net(inp, generator=generator) * 0.1 + 100.0

    x = torch.rand(1, 1, 16, 16)
    cfg = Self2SelfConfig(passes=7, pass_batch=3)
    with torch.no_grad():
        mean, std = ensemble_stats(shifted, x, cfg, torch.Generator().manual_seed(5))
        gen = torch.Generator().manual_seed(5)
        passes = []
        for k in (3, 3, 1):
            inp, _ = bernoulli_input(x.expand(k, 1, 16, 16), 0.7, gen)
            passes.append(shifted(inp, generator=gen).double().numpy())
    stacked = np.concatenate(passes)
    reference = stacked.std(0)
    assert reference.min() > 0
    np.testing.assert_allclose(std[0].numpy(), reference, rtol=0.02)
    np.testing.assert_allclose(mean[0].numpy(), stacked.mean(0), rtol=1e-6)


def _count_forwards(model: torch.nn.Module) -> list[int]:
    calls = [0]
    model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_uncertainty_comes_from_the_same_single_ensemble() -> None:
    """Asking for the uncertainty runs the ensemble once (as many network calls as the
    denoised image alone), leaves the denoised image unchanged, and gives what the
    uncertainty computed on its own (the two-pass definition, same seed) gives."""
    from napari_blind_denoise.core.config import TileConfig
    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.methods.base import OutputContext
    from napari_blind_denoise.core.methods.self2self import _uncertainty

    noisy, _ = make_noisy((48, 80))
    trained = run_to_completion(train(noisy, "YX", tiny_config(), device="cpu"))
    calls = _count_forwards(trained.model)
    tile = TileConfig(tile_size=32, overlap=8)  # several tiles: the generator runs across
    gen = apply_pipeline(trained, noisy, "YX", device="cpu", tile=tile)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as end:
            alone = end.value
            break
    n_tiles = [e for e in events if isinstance(e, PredictEvent)][-1].n_tiles
    assert n_tiles > 1
    plain = calls[0]
    assert plain == n_tiles * 2  # 4 passes in batches of 3: two calls per tile
    calls[0] = 0
    both = run_to_completion(apply_pipeline(trained, noisy, "YX", device="cpu", tile=tile,
                                            outputs=trained.spec.outputs()))
    assert calls[0] == plain  # one ensemble, not two
    np.testing.assert_array_equal(both.images["denoised"], alone.images["denoised"])
    separate = np.zeros(noisy.shape, np.float32)
    ctx = OutputContext(trained, noisy, alone.images["denoised"],
                        check_image(noisy, "YX"), tile=tile, device="cpu")
    run_to_completion(_uncertainty(ctx, separate))
    assert calls[0] == 2 * plain
    spread = both.images["uncertainty"]
    assert (spread > 0).all()
    np.testing.assert_allclose(spread, separate, rtol=1e-5, atol=1e-6)


def test_single_mode_still_gets_its_uncertainty() -> None:
    """The ``single`` mode has no ensemble to share: the uncertainty is computed on its own
    (an ensemble run after the one deterministic pass)."""
    noisy, _ = make_noisy((32, 32))
    trained = run_to_completion(train(noisy, "YX", tiny_config(), device="cpu"))
    calls = _count_forwards(trained.model)
    result = run_to_completion(apply_pipeline(trained, noisy, "YX", device="cpu",
                                              inference="single",
                                              outputs=trained.spec.outputs()))
    passes = trained.config.self2self.passes
    batch = trained.config.self2self.pass_batch
    assert calls[0] == 1 + -(-passes // batch)  # one plain pass, then the ensemble's batches
    assert (result.images["uncertainty"] > 0).all()


def test_trains_predicts_with_uncertainty_and_round_trips(tmp_path: Path) -> None:
    noisy, _ = make_noisy((64, 64))
    trained = run_to_completion(train(noisy, "YX", tiny_config(), device="cpu"))
    assert trained.info["steps"] == 6
    assert get_method("s2s").inference_modes(trained.config) == ("ensemble", "single")
    result = run_to_completion(apply_pipeline(trained, noisy, "YX", device="cpu",
                                              outputs=trained.spec.outputs()))
    denoised, spread = result.images["denoised"], result.images["uncertainty"]
    assert denoised.shape == spread.shape == noisy.shape
    assert np.isfinite(denoised).all() and (spread > 0).all()
    # in intensity units: the passes differ by a fraction of the noisy image's range
    assert spread.mean() < 0.5 * float(noisy.max() - noisy.min())
    loaded = load_model(save_model(trained, tmp_path / "model"))
    assert loaded.config == trained.config
    again = run_to_completion(predict(loaded, noisy, "YX", device="cpu"))
    np.testing.assert_allclose(again, denoised, rtol=1e-5, atol=1e-3)  # seeded passes
    single = run_to_completion(predict(loaded, noisy, "YX", device="cpu", inference="single"))
    assert not np.allclose(single, denoised)


def test_other_methods_refuse_unknown_pixels() -> None:
    noisy, _ = make_noisy((64, 64))
    noisy[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        run_to_completion(train(noisy, "YX", default_config("n2v", steps=1)))


@pytest.mark.slow
def test_inpainting_recovers_dropped_pixels() -> None:
    """Half the pixels of a smooth, lightly noisy image are known to be lost: s2s fills them
    in far better than the image's mean does, and never from their (garbage) values."""
    clean = make_blobs((64, 64), seed=2) * 100.0
    noisy = clean + np.random.default_rng(1).normal(0, 2.0, clean.shape).astype(np.float32)
    lost = np.random.default_rng(2).random(clean.shape) < 0.5
    corrupted = np.where(lost, 1e4, noisy).astype(np.float32)  # garbage where lost
    data = exclude_pixels(corrupted, lost)
    config = tiny_config(steps=150, batch_size=4, learning_rate=3e-3)
    trained = run_to_completion(train(data, "YX", config, device="cpu"))
    out = run_to_completion(predict(trained, data, "YX", device="cpu"))
    assert np.isfinite(out).all()
    dropped_input = np.where(lost, noisy[~lost].mean(), noisy)  # the best constant fill
    assert psnr(out, clean) > psnr(dropped_input, clean) + 6.0
    err = np.abs(out - clean)[lost].mean()
    assert err < 0.4 * np.abs(dropped_input - clean)[lost].mean()  # measured 0.29


@pytest.mark.parametrize(("kind", "told"), [("scanline", True), ("gaussian", False)])
def test_correlated_noise_is_reported(kind: str, told: bool) -> None:
    from napari_blind_denoise.core import add_noise, validate_axes

    clean = make_blobs((128, 128), seed=6) * 300.0 + 50.0
    noisy = add_noise(clean, kind, sigma=0.1, **({"length": 3} if kind == "scanline" else {}))
    cfg = tiny_config()
    adapted, info = get_method("s2s").adapt(cfg, noisy, validate_axes("YX", noisy.shape))
    assert adapted == cfg  # nothing changes: the user is told
    assert ("Self2Self assumes pixel-independent noise" in info.get("notice", "")) == told
    assert info["noise_correlation"]["independent"] == (not told)
