"""Progress events."""

from __future__ import annotations

import dataclasses

import pytest

from napari_blind_denoise.core import PredictEvent, TrainEvent


def event(step: int, n: int, elapsed: float, budget: float | None) -> TrainEvent:
    return TrainEvent(step=step, n_steps=n, loss=1.0, val_loss=None, best_val_loss=None,
                      lr=1e-3, elapsed=elapsed, time_budget=budget, patches_per_s=1.0)


@pytest.mark.parametrize(("step", "n", "elapsed", "budget", "expected"), [
    (5, 10, 100.0, None, 0.5),
    (5, 10, 1.0, 10.0, 0.5),
    (1, 10, 8.0, 10.0, 0.8),
    (1, 10**9, 12.0, 10.0, 1.0),
])
def test_train_progress(step, n, elapsed, budget, expected) -> None:
    assert event(step, n, elapsed, budget).progress == pytest.approx(expected)


def test_predict_progress() -> None:
    assert PredictEvent(tile=3, n_tiles=4, elapsed=0.1).progress == 0.75
    assert PredictEvent(tile=0, n_tiles=0, elapsed=0.0).progress == 0.0


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        event(1, 2, 0.0, None).step = 3
