"""The training generator: events, budgets, stopping, determinism, array types."""

from __future__ import annotations

import itertools
import math
import threading
import time

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    InputError,
    TrainedModel,
    TrainEvent,
    TrainingSession,
    run_to_completion,
    train,
)
from napari_blind_denoise.core.train import lr_at
from tests.conftest import tiny_config


def collect(gen, deadline: float = 60.0) -> tuple[list[TrainEvent], TrainedModel]:
    """Run ``gen`` to the end; fail (instead of hanging) if it outlives ``deadline`` seconds."""
    events = []
    t0 = time.perf_counter()
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return events, stop.value
        if time.perf_counter() - t0 > deadline:
            gen.close()
            pytest.fail(f"training did not stop within {deadline} s ({len(events)} steps)")


def assert_usable(trained: TrainedModel, channels: int = 1) -> None:
    x = torch.randn(1, channels, 32, 32)
    with torch.no_grad():
        y = trained.model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def weights(trained: TrainedModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trained.model.state_dict().items()}


def same_weights(a: TrainedModel, b: TrainedModel) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_smoke_events(noisy_image: np.ndarray) -> None:
    cfg = tiny_config(steps=12, val_every=5)
    events, trained = collect(train(noisy_image, "YX", cfg, device="cpu"))
    assert [e.step for e in events] == list(range(1, 13))
    assert all(e.n_steps == 12 for e in events)
    assert all(math.isfinite(e.loss) and e.loss > 0 for e in events)
    assert all(e.lr > 0 for e in events)
    assert [e.val_loss is None for e in events] == [True] * 4 + [False] * 8
    assert events[-1].val_loss is not None  # validated at the last step too
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)
    assert events[-1].progress == 1.0
    assert 0 < events[0].progress < 1
    assert all(e.patches_per_s > 0 for e in events)
    assert isinstance(trained, TrainedModel)
    assert trained.info["steps"] == 12
    assert trained.method == "n2v" and trained.axes == "YX" and trained.channels == 1
    assert not trained.model.training
    assert_usable(trained)


def test_best_model_is_lowest_validation(noisy_image: np.ndarray) -> None:
    cfg = tiny_config(steps=20, val_every=4, select_tolerance=0.0)
    events, trained = collect(train(noisy_image, "YX", cfg, device="cpu"))
    vals = {e.step: e.val_loss for e in events if e.step % 4 == 0}
    best_step = min(vals, key=vals.get)
    assert trained.info["best_step"] == best_step
    assert trained.info["best_val_loss"] == pytest.approx(vals[best_step])
    assert events[-1].best_val_loss == pytest.approx(vals[best_step])
    for e in events:
        if e.best_val_loss is not None:
            assert e.best_val_loss <= e.val_loss


@pytest.mark.parametrize("steps", [1, 7])
def test_steps_budget(noisy_image: np.ndarray, steps: int) -> None:
    events, trained = collect(train(noisy_image, "YX", tiny_config(steps=steps), device="cpu"))
    assert len(events) == steps
    assert trained.info["steps"] == steps
    assert not trained.info["stopped_early"]


def test_time_budget(noisy_image: np.ndarray) -> None:
    huge = 10**9
    cfg = tiny_config(steps=huge, time_budget=2.0)
    t0 = time.perf_counter()
    events, trained = collect(train(noisy_image, "YX", cfg, device="cpu"), deadline=30.0)
    wall = time.perf_counter() - t0
    assert wall < 20, f"a 2 s budget took {wall:.1f} s"
    assert len(events) == trained.info["steps"] < huge
    assert events[-1].elapsed >= 2.0
    assert all(e.elapsed < 2.0 for e in events[:-1])
    assert events[-1].time_budget == 2.0 and events[-1].progress == 1.0
    # the schedule follows the clock: each step's rate is the schedule at a time between the
    # previous event and this one (decay phase, where the schedule is decreasing)
    tc = cfg.train
    for prev, e in itertools.pairwise(events):
        if prev.elapsed / 2.0 >= tc.warmup_fraction:
            assert lr_at(e.elapsed / 2.0, tc) - 1e-12 <= e.lr <= lr_at(prev.elapsed / 2.0, tc)


def test_stop_from_inside_the_loop(noisy_image: np.ndarray) -> None:
    session = TrainingSession(noisy_image, "YX", tiny_config(steps=1000), device="cpu")
    gen = session.run()
    events = []
    trained = None
    while trained is None:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            trained = stop.value
        if len(events) == 3:
            session.stop()
        if len(events) > 10:
            gen.close()
            pytest.fail("stop() did not end the loop")
    assert 3 <= len(events) <= 4
    assert trained.info["stopped_early"]
    assert trained.info["steps"] == len(events)
    assert events[-1].val_loss is not None  # validated on the way out
    assert_usable(trained)


def test_stop_from_another_thread(noisy_image: np.ndarray) -> None:
    session = TrainingSession(noisy_image, "YX", tiny_config(steps=10**6), device="cpu")
    timer = threading.Timer(1.0, session.stop)
    timer.start()
    try:
        events, trained = collect(session.run(), deadline=30.0)
    finally:
        timer.cancel()
    assert trained.info["stopped_early"]
    assert len(events) < 10**6


def test_close_generator_keeps_best_model(noisy_image: np.ndarray) -> None:
    session = TrainingSession(noisy_image, "YX", tiny_config(steps=100, val_every=2),
                              device="cpu")
    with pytest.raises(RuntimeError, match="not started"):
        session.best_model()
    gen = session.run()
    for _ in range(5):
        next(gen)
    gen.close()
    trained = session.best_model()
    assert trained.info["steps"] == 5
    assert trained.info["best_step"] in (2, 4)
    assert trained.norm is not None
    assert_usable(trained)
    # best_model hands out a copy: using it does not touch the session's network
    before = weights(trained)
    with torch.no_grad():
        for p in trained.model.parameters():
            p.add_(1.0)
    again = session.best_model()
    assert all(torch.equal(before[k], v) for k, v in weights(again).items())


def test_close_before_first_validation(noisy_image: np.ndarray) -> None:
    session = TrainingSession(noisy_image, "YX", tiny_config(steps=100, val_every=50),
                              device="cpu")
    gen = session.run()
    next(gen)
    next(gen)
    gen.close()
    trained = session.best_model()
    assert trained.info["steps"] == 2 and trained.info["best_val_loss"] is None
    assert_usable(trained)


def test_seed_gives_identical_weights(noisy_image: np.ndarray) -> None:
    a = run_to_completion(train(noisy_image, "YX", tiny_config(steps=20), device="cpu"))
    b = run_to_completion(train(noisy_image, "YX", tiny_config(steps=20), device="cpu"))
    c = run_to_completion(train(noisy_image, "YX", tiny_config(steps=20, seed=1),
                                device="cpu"))
    assert same_weights(a, b)
    assert not same_weights(a, c)


@pytest.mark.parametrize(("axes", "shape"), [("CYX", (2, 48, 40)), ("YXC", (40, 48, 3))])
def test_multichannel(axes: str, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    data = rng.normal(size=shape).astype(np.float32)
    c = shape[axes.index("C")]
    data += np.arange(c).reshape([c if a == "C" else 1 for a in axes]) * 10  # distinct ranges
    trained = run_to_completion(train(data, axes, tiny_config(steps=3), device="cpu"))
    assert trained.channels == c
    assert trained.config.model.in_channels == trained.config.model.out_channels == c
    assert len(trained.norm.low) == c
    assert trained.norm.low[-1] > trained.norm.high[0]  # per-channel statistics
    assert_usable(trained, c)


def test_zyx_stack_trains_on_planes(rng: np.random.Generator) -> None:
    data = rng.normal(size=(3, 40, 44)).astype(np.float32)
    events, trained = collect(train(data, "ZYX", tiny_config(steps=4), device="cpu"))
    assert len(events) == 4
    assert trained.axes == "ZYX" and trained.channels == 1
    assert_usable(trained)


def test_axes_guessed(noisy_image: np.ndarray) -> None:
    trained = run_to_completion(train(noisy_image, None, tiny_config(steps=1), device="cpu"))
    assert trained.axes == "YX"


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_input_not_modified(noisy_image: np.ndarray, dtype: type) -> None:
    data = np.clip(noisy_image, 0, None).astype(dtype)
    copy = data.copy()
    data.flags.writeable = False  # any in-place write would raise
    run_to_completion(train(data, "YX", tiny_config(steps=6), device="cpu"))
    np.testing.assert_array_equal(data, copy)


def test_zarr_input(noisy_image: np.ndarray, tmp_path) -> None:
    zarr = pytest.importorskip("zarr")
    z = zarr.open_array(store=str(tmp_path / "a.zarr"), mode="w", shape=noisy_image.shape,
                        chunks=(32, 32), dtype="float32")
    z[...] = noisy_image
    ref = run_to_completion(train(noisy_image, "YX", tiny_config(steps=5), device="cpu"))
    trained = run_to_completion(train(z, "YX", tiny_config(steps=5), device="cpu"))
    assert same_weights(trained, ref)
    assert trained.norm == ref.norm
    np.testing.assert_array_equal(z[...], noisy_image)


def test_dask_input(noisy_image: np.ndarray) -> None:
    da = pytest.importorskip("dask.array")
    d = da.from_array(noisy_image, chunks=(32, 32))
    ref = run_to_completion(train(noisy_image, "YX", tiny_config(steps=5), device="cpu"))
    trained = run_to_completion(train(d, "YX", tiny_config(steps=5), device="cpu"))
    assert same_weights(trained, ref)


def test_exception_image_smaller_than_patch(rng: np.random.Generator) -> None:
    data = rng.normal(size=(20, 40))
    with pytest.raises(InputError, match="smaller than the 32x32"):
        TrainingSession(data, "YX", tiny_config(), device="cpu")
    with pytest.raises(InputError, match="smaller than the 32x32"):
        next(train(data, "YX", tiny_config(), device="cpu"))


def test_narrow_planes_train_on_a_fitted_patch(rng: np.random.Generator) -> None:
    data = rng.normal(size=(3, 45, 38)).astype(np.float32)  # ZYX, planes narrower than 64
    cfg = tiny_config(patch_size=64, steps=3)
    trained = run_to_completion(train(data, "ZYX", cfg, device="cpu"))
    assert trained.config.train.patch_size == 36  # largest multiple of 4 <= 38
    assert cfg.train.patch_size == 64  # the caller's config is left alone


def test_exception_nan(noisy_image: np.ndarray) -> None:
    data = noisy_image.copy()
    data[5, 5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        run_to_completion(train(data, "YX", tiny_config(), device="cpu"))


def test_lr_schedule() -> None:
    cfg = tiny_config(learning_rate=1e-2, warmup_fraction=0.1, final_lr_fraction=0.05).train
    assert lr_at(0.0, cfg) == pytest.approx(1e-2 * 0.02)
    assert lr_at(0.05, cfg) == pytest.approx(0.5e-2)
    assert lr_at(0.1, cfg) == pytest.approx(1e-2)
    assert lr_at(1.0, cfg) == pytest.approx(0.05e-2)
    assert lr_at(2.0, cfg) == pytest.approx(0.05e-2)
    decay = [lr_at(p, cfg) for p in np.linspace(0.1, 1.0, 20)]
    assert decay == sorted(decay, reverse=True)


def test_weight_average_moves_towards_weights_and_swaps_back() -> None:
    from napari_blind_denoise.core.train import WeightAverage

    net = torch.nn.Linear(3, 2)
    avg = WeightAverage(net, decay=0.5)
    before = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
    avg.update(step=1000)  # decay 0.5: shadow = before + 0.5
    for s, b in zip(avg.shadow, before, strict=True):
        torch.testing.assert_close(s, b + 0.5)
    with avg.swapped():
        for p, b in zip(net.parameters(), before, strict=True):
            torch.testing.assert_close(p, b + 0.5)
    for p, b in zip(net.parameters(), before, strict=True):
        torch.testing.assert_close(p, b + 1.0)


def test_ema_training_keeps_averaged_weights(noisy_image: np.ndarray) -> None:
    cfg = tiny_config(steps=12, val_every=4, ema_decay=0.9)
    _, averaged = collect(train(noisy_image, "YX", cfg, device="cpu"))
    _, plain = collect(train(noisy_image, "YX", tiny_config(steps=12, val_every=4),
                             device="cpu"))
    assert_usable(averaged)
    assert not same_weights(averaged, plain)


def test_ema_decay_validated() -> None:
    from napari_blind_denoise.core import TrainConfig

    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.5)


@pytest.mark.parametrize("tolerance", [0.0, 0.01, 0.2])
def test_kept_model_is_newest_within_tolerance(noisy_image: np.ndarray,
                                               tolerance: float) -> None:
    cfg = tiny_config(steps=24, val_every=3, select_tolerance=tolerance)
    events, trained = collect(train(noisy_image, "YX", cfg, device="cpu"))
    best, kept = math.inf, None
    for e in events:
        if e.step % 3 == 0:
            if e.val_loss <= best * (1 + tolerance):
                kept = e.step
            best = min(best, e.val_loss)
    assert trained.info["best_step"] == kept
    assert trained.info["best_val_loss"] == pytest.approx(best)
