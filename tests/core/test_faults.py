"""GPU faults, written right by construction and tested with simulated failures on the CPU:
out-of-memory in prediction and training, non-finite losses under mixed precision, device
names, and the caller's model never moved."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    InputError,
    TileConfig,
    pick_device,
    predict,
    run_to_completion,
    train,
)
from tests.conftest import make_noisy, tiny_config

predict_module = __import__("napari_blind_denoise.core.predict", fromlist=["_Net"])
train_module = __import__("napari_blind_denoise.core.train", fromlist=["TrainingSession"])


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return make_noisy((200, 200), seed=3)[0]


@pytest.fixture(scope="module")
def trained(image):
    return run_to_completion(train(image, "YX", tiny_config("n2v", steps=3)))


@pytest.fixture
def no_probe(monkeypatch):
    """As on a GPU, where these faults happen: the memory budget plans the tiles without a
    probe pass through the network (whose calls the tests count and fail)."""
    real = predict_module.plan_tiles
    monkeypatch.setattr(predict_module, "plan_tiles",
                        lambda net, *args, **kwargs: real(None, *args, **kwargs))


@pytest.mark.usefixtures("no_probe")
def test_prediction_oom_halves_the_tile(monkeypatch, trained, image) -> None:
    real = predict_module._Net.__call__
    sizes = []

    def limited(self, tile):
        sizes.append(tile.shape[-1])
        if tile.shape[-1] > 64:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, tile)

    expected = run_to_completion(predict(trained, image, "YX", tile=TileConfig(tile_size=64,
                                                                               overlap=16)))
    monkeypatch.setattr(predict_module._Net, "__call__", limited)
    out = run_to_completion(predict(trained, image, "YX", tile=TileConfig(tile_size=256,
                                                                          overlap=48)))
    assert sizes[0] == 200 and max(sizes[1:]) == 128 and sizes[-1] == 64
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-3)


@pytest.mark.usefixtures("no_probe")
def test_prediction_oom_below_the_floor_is_a_clear_error(monkeypatch, trained, image) -> None:
    def always(self, tile):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(predict_module._Net, "__call__", always)
    with pytest.raises(InputError, match="out of memory on cpu even with 64-pixel tiles"):
        run_to_completion(predict(trained, image, "YX"))


def test_training_oom_halves_the_batch_once(monkeypatch, image) -> None:
    from napari_blind_denoise.core.methods import Noise2Void

    real = Noise2Void.objective

    def limited(self, model, batch):
        if batch.input.shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, model, batch)

    monkeypatch.setattr(Noise2Void, "objective", limited)
    gen = train(image, "YX", tiny_config("n2v", steps=4, batch_size=8))
    first = next(gen)
    assert "batch was halved to 4" in first.notice
    trained = run_to_completion(gen)
    assert trained.info["batch_halved"] and trained.config.train.batch_size == 4
    assert trained.info["steps"] == 4

    def never(self, model, batch):
        raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(Noise2Void, "objective", never)
    with pytest.raises(InputError, match="out of memory"):
        run_to_completion(train(image, "YX", tiny_config("n2v", steps=4, batch_size=8)))


class FakeScaler:
    """GradScaler stand-in: enabled (as under mixed precision), records scale updates."""

    def __init__(self, *args, **kwargs) -> None:
        self.scale_value, self.updates = 1024.0, []

    def is_enabled(self) -> bool:
        return True

    def get_scale(self) -> float:
        return self.scale_value

    def scale(self, loss):
        return loss

    def step(self, opt) -> None:
        opt.step()

    def update(self, new_scale=None) -> None:
        self.updates.append(new_scale)


def test_non_finite_losses_are_skipped_under_mixed_precision(monkeypatch, image) -> None:
    from napari_blind_denoise.core.methods import Noise2Void

    real, calls = Noise2Void.objective, []

    def sometimes_nan(self, model, batch):
        calls.append(1)
        scores = real(self, model, batch)
        if len(calls) in (2, 3):
            return scores._replace(loss=scores.loss * float("nan"))
        return scores

    monkeypatch.setattr(Noise2Void, "objective", sometimes_nan)
    monkeypatch.setattr(train_module.torch.amp, "GradScaler", FakeScaler)
    trained = run_to_completion(train(image, "YX", tiny_config("n2v", steps=6, val_every=100)))
    assert trained.info["skipped_steps"] == 2 and trained.info["steps"] == 6
    # without mixed precision a non-finite loss still stops training with a clear error
    monkeypatch.undo()
    monkeypatch.setattr(Noise2Void, "objective", lambda self, m, b: real(self, m, b)._replace(
        loss=torch.tensor(float("nan"))))
    with pytest.raises(FloatingPointError, match="not finite"):
        run_to_completion(train(image, "YX", tiny_config("n2v", steps=3)))


def test_device_names(monkeypatch) -> None:
    assert pick_device("cpu").type == "cpu"
    for bad in ("cuda:x", "cpu:0", "tpu", "auto:1"):
        with pytest.raises(ValueError, match="cuda:N"):
            pick_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="sees 2 CUDA GPU"):
        pick_device("cuda:2")


def test_the_callers_model_is_never_moved(trained) -> None:
    before = next(trained.model.parameters()).device
    net = predict_module._Net(trained, torch.device("meta"), None)
    assert next(net.model.parameters()).device.type == "meta"
    assert next(trained.model.parameters()).device == before
