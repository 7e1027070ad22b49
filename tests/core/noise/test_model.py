"""The N-net (``nnet``): mixture likelihood, training, noise curves and maps, checkpoints."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from napari_blind_denoise.core import (
    InputError,
    TrainedModel,
    fit_poisson_gaussian,
    has_noise_model,
    load_model,
    noise_curve,
    noise_density,
    predict,
    predict_noise_std,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.config import NoiseModelConfig
from napari_blind_denoise.core.data.axes import validate_axes
from napari_blind_denoise.core.data.normalize import quantization_step
from napari_blind_denoise.core.losses import mixture_log_prob
from napari_blind_denoise.core.methods import Batch
from napari_blind_denoise.core.methods.nnet import NOISE_NET_MAX_LR, masked_likelihood
from napari_blind_denoise.core.nets import DenoiserWithNoiseModel, NoiseNet, UNet
from tests.conftest import make_noisy, tiny_config


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return make_noisy((64, 64), seed=7)[0]


@pytest.fixture(scope="module")
def run(image: np.ndarray) -> tuple[list, TrainedModel]:
    cfg = tiny_config("nnet", steps=12, val_every=5)
    gen = train(image, "YX", replace(cfg, noise_model=NoiseModelConfig(kind="gmm2")),
                device="cpu")
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value


@pytest.fixture(scope="module")
def trained(run) -> TrainedModel:
    return run[1]


# -- the likelihood -------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3])
def test_mixture_log_prob_matches_torch(k: int) -> None:
    g = torch.Generator().manual_seed(k)
    shape = (2, 1, k, 4, 5)
    logits = torch.randn(shape, generator=g)
    means = torch.randn(shape, generator=g)
    stds = torch.rand(shape, generator=g) + 0.1
    r = torch.randn(2, 1, 4, 5, generator=g)
    ours = mixture_log_prob(r, logits.log_softmax(2), means, stds)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=logits.movedim(2, -1)),
        torch.distributions.Normal(means.movedim(2, -1), stds.movedim(2, -1)))
    torch.testing.assert_close(ours, mix.log_prob(r))


def test_binned_likelihood_is_bounded_on_a_lattice() -> None:
    r = torch.zeros(1, 1, 1, 1)
    one = torch.zeros(1, 1, 1, 1, 1)
    h = torch.full((1, 1, 1, 1), 0.25)
    spike = mixture_log_prob(r, one, one, one + 1e-4, h)
    assert float(spike) <= -math.log(0.25) + 1e-5  # the bin's mass cannot exceed 1
    plain = mixture_log_prob(r, one, one, one + 1e-4)
    assert float(plain) > 8  # a density would reward the spike without bound
    wide = mixture_log_prob(r, one, one, one + 10.0, h)  # h << std: the plain density
    torch.testing.assert_close(wide, mixture_log_prob(r, one, one, one + 10.0), rtol=1e-4,
                               atol=0)


def test_mixture_centred_with_std_floor() -> None:
    net = NoiseNet(2, NoiseModelConfig(kind="gmm3", min_std=0.01))
    with torch.no_grad():
        net.mlp[-1].bias.mul_(50)
        mix = net(torch.rand(3, 2, 8, 8) * 4 - 2)
    assert mix.means.shape == (3, 2, 3, 8, 8)
    mean = (mix.log_weights.exp() * mix.means).sum(2)
    torch.testing.assert_close(mean, torch.zeros_like(mean), atol=1e-5, rtol=0)
    assert float(mix.stds.min()) >= 0.01 * (1 - 1e-6)
    torch.testing.assert_close(mix.log_weights.exp().sum(2), torch.ones(3, 2, 8, 8))


@pytest.mark.parametrize("bin_width", [0.0, 0.05])
def test_flat_batch_no_nan(make_config, bin_width: float) -> None:
    cfg = make_config("nnet")
    model = DenoiserWithNoiseModel(UNet(cfg.model), NoiseNet(1, cfg.noise_model))
    model.noise_net.bin_width.fill_(bin_width)
    flat = torch.full((2, 1, 32, 32), 0.3)
    mask = torch.zeros_like(flat)
    mask[..., ::4, ::4] = 1
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):  # the std collapses towards its floor, never below
        scores = masked_likelihood(model, Batch(flat, flat, mask))
        opt.zero_grad()
        scores.loss.backward()
        assert math.isfinite(float(scores.loss.detach()))
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        opt.step()


# -- training -------------------------------------------------------------------------------

def test_events_carry_noise_curve_on_validation_steps(run) -> None:
    events, trained = run
    curves = [e.step for e in events if e.noise_curve is not None]
    assert curves == [5, 10, 12]
    signal, std = events[-1].noise_curve
    assert len(signal) == len(std) == 64
    assert (np.diff(signal) > 0).all()
    assert all(s > 0 and math.isfinite(s) for s in std)
    lo, hi = trained.info["signal_range"][0]
    assert signal[0] == pytest.approx(lo) and signal[-1] == pytest.approx(hi)
    assert all(e.mse is not None and e.mse > 0 for e in events)
    assert events[-1].val_mse == pytest.approx(trained.info["best_val_mse"])
    assert trained.info["selected_on"] == "val_mse"


def test_kept_model_selected_on_validation_mse(image: np.ndarray) -> None:
    cfg = tiny_config("nnet", steps=16, val_every=2, select_tolerance=0.0)
    gen, events = train(image, "YX", cfg, device="cpu"), []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            trained = stop.value
            break
    vals = {e.step: e.val_mse for e in events if e.step % 2 == 0}
    assert trained.info["best_step"] == min(vals, key=vals.get)
    assert trained.config.noise_model == NoiseModelConfig()  # filled in for nnet


@pytest.mark.parametrize("lr_scale", [1.0, 10.0])
def test_noise_net_learns_at_its_own_rate(image: np.ndarray, lr_scale: float) -> None:
    from napari_blind_denoise.core import TrainingSession

    cfg = tiny_config("nnet", steps=3)
    cfg = replace(cfg, noise_model=NoiseModelConfig(lr_scale=lr_scale))
    session = TrainingSession(image, "YX", cfg, device="cpu")
    event = next(session.run())
    dnet, nnet = session.optimizer.param_groups
    noise_params = {id(p) for p in session.model.noise_net.parameters()}
    assert {id(p) for p in nnet["params"]} == noise_params
    assert not noise_params & {id(p) for p in dnet["params"]}
    assert dnet["lr"] == pytest.approx(event.lr)
    assert nnet["lr"] == pytest.approx(min(lr_scale * event.lr, NOISE_NET_MAX_LR))


def test_noise_net_learning_rate_is_capped(image: np.ndarray) -> None:
    from napari_blind_denoise.core import TrainingSession

    cfg = tiny_config("nnet", steps=3, learning_rate=0.02)  # 10x would be 0.2
    session = TrainingSession(image, "YX", cfg, device="cpu")
    event = next(session.run())
    dnet, nnet = session.optimizer.param_groups
    assert dnet["lr"] == pytest.approx(event.lr) and event.lr > NOISE_NET_MAX_LR / 10
    assert nnet["lr"] == pytest.approx(NOISE_NET_MAX_LR)


def test_lr_scale_must_be_positive() -> None:
    with pytest.raises(ValueError, match="lr_scale"):
        NoiseModelConfig(lr_scale=0.0)


def test_predict_returns_the_dnet_signal(trained: TrainedModel, image: np.ndarray) -> None:
    assert has_noise_model(trained)
    plain = TrainedModel(trained.model.denoiser, replace(trained.config, noise_model=None),
                         trained.norm, trained.axes)
    a = run_to_completion(predict(trained, image, "YX", device="cpu"))
    b = run_to_completion(predict(plain, image, "YX", device="cpu"))
    np.testing.assert_array_equal(a, b)


def test_checkpoint_round_trip(trained: TrainedModel, tmp_path: Path) -> None:
    trained.model.noise_net.bin_width.fill_(0.125)
    loaded = load_model(save_model(trained, tmp_path / "m"))
    assert loaded.config == trained.config and loaded.config.noise_model.kind == "gmm2"
    assert has_noise_model(loaded)
    assert float(loaded.model.noise_net.bin_width[0]) == 0.125
    for a, b in zip(noise_curve(loaded), noise_curve(trained), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5)


# -- reading the noise model ------------------------------------------------------------------

def test_noise_curve_range_and_units(trained: TrainedModel) -> None:
    signal, std = noise_curve(trained, n=40, signal_range=(100.0, 500.0))
    assert signal.shape == std.shape == (40,)
    assert signal[0] == 100.0 and signal[-1] == 500.0
    d = noise_density(trained, 300.0, np.linspace(-400, 400, 4001))
    assert d["std"] == pytest.approx(float(np.interp(300.0, signal, std)), rel=1e-2)
    np.testing.assert_allclose(d["total"], np.sum(d["components"], axis=0))
    assert np.trapezoid(d["total"], dx=0.2) == pytest.approx(1.0, abs=1e-3)
    assert sum(d["weights"]) == pytest.approx(1.0)
    assert len(d["means"]) == len(d["stds"]) == 2
    assert sum(w * m for w, m in zip(d["weights"], d["means"], strict=True)) == pytest.approx(
        0.0, abs=1e-3 * d["std"])


def test_predict_noise_std_streams(trained: TrainedModel, tmp_path: Path) -> None:
    stack = np.stack([make_noisy((40, 48), seed=s)[1] for s in range(3)])
    gen = predict_noise_std(trained, stack, "ZYX", rows=16)
    events, whole = [], None
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            whole = stop.value
            break
    assert [e.tile for e in events] == list(range(1, 10)) and events[-1].n_tiles == 9
    assert whole.shape == stack.shape and whole.dtype == np.float32
    _, std = noise_curve(trained, 2, (float(stack[1, 5, 7]), float(stack[1, 5, 7])))
    assert whole[1, 5, 7] == pytest.approx(std[0], rel=1e-4)
    src = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=stack.shape,
                          chunks=(1, 16, 48), dtype="float32")
    src[...] = stack
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="w", shape=stack.shape,
                          chunks=(1, 16, 48), dtype="float32")
    assert run_to_completion(predict_noise_std(trained, src, "ZYX", out=out, rows=7)) is out
    np.testing.assert_allclose(out[...], whole, rtol=1e-6)


def test_exception_without_noise_model(image: np.ndarray, trained: TrainedModel) -> None:
    n2s = run_to_completion(train(image, "YX", tiny_config("n2s", steps=2), device="cpu"))
    assert not has_noise_model(n2s)
    for call in (lambda: noise_curve(n2s), lambda: noise_density(n2s, 1.0, np.zeros(3)),
                 lambda: run_to_completion(predict_noise_std(n2s, image))):
        with pytest.raises(InputError, match="no noise model"):
            call()
    with pytest.raises(InputError, match="shape"):
        run_to_completion(predict_noise_std(trained, image, out=np.zeros((3, 3))))
    with pytest.raises(ValueError, match="no noise model"):
        run_to_completion(train(image, "YX", replace(tiny_config("n2s"),
                                                     noise_model=NoiseModelConfig())))


def test_fit_poisson_gaussian_recovers_parameters() -> None:
    s = np.linspace(10, 1000, 50)
    a, b = fit_poisson_gaussian(s, np.sqrt(2.5 * s + 400.0))
    assert (a, b) == (pytest.approx(2.5), pytest.approx(400.0))
    std = np.sqrt(2.5 * s + 400.0)
    std[7] = 1e4  # an outlier with no pixels behind it
    w = np.ones_like(s)
    w[7] = 0
    assert fit_poisson_gaussian(s, std, w) == (pytest.approx(2.5), pytest.approx(400.0))
    assert fit_poisson_gaussian(s, std)[0] != pytest.approx(2.5)
    with pytest.raises(ValueError):
        fit_poisson_gaussian(s, std[:-1])
    with pytest.raises(ValueError):
        fit_poisson_gaussian(s, std, -w)


def test_quantization_step() -> None:
    rng = np.random.default_rng(0)
    layout = validate_axes("YX", (64, 64))
    counts = rng.poisson(3.0, (64, 64))
    assert quantization_step(counts.astype(np.uint16), layout) == (1.0,)
    step = quantization_step((counts / 7.0).astype(np.float32), layout)[0]
    assert step == pytest.approx(1 / 7.0, rel=1e-5)
    assert quantization_step(rng.normal(size=(64, 64)).astype(np.float32), layout) == (0.0,)


def test_reported_std_adds_the_rounding_variance_on_quantised_data() -> None:
    from napari_blind_denoise.core.nets.noise_net import Mixture
    from napari_blind_denoise.core.noise.model import noise_std_of

    net = NoiseNet(1, NoiseModelConfig(kind="gmm2"))
    mix = Mixture(torch.log(torch.tensor([[[0.5], [0.5]]])), torch.tensor([[[-0.1], [0.1]]]),
                  torch.tensor([[[0.2], [0.2]]]))
    total = float(mix.total_std(dim=1)[0, 0])
    assert float(noise_std_of(mix, net)[0, 0]) == pytest.approx(total)  # continuous data
    net.bin_width.fill_(0.1)  # std 0.22 > h / 2: Sheppard's correction in full
    assert float(noise_std_of(mix, net)[0, 0]) == pytest.approx(
        np.sqrt(total**2 + 0.1**2 / 12), rel=1e-4)
    net.bin_width.fill_(10.0)  # std far below the lattice step: no rounding term
    assert float(noise_std_of(mix, net)[0, 0]) == pytest.approx(total, rel=1e-3)
