"""Stop within about a second in every phase: training, calibration, prediction, noise maps.

Each phase is stopped ten times at seeded random points (a timer thread sets the pipeline's
stop event, as the Stop button does from the GUI thread). The time from the stop to the end
of the phase must be under ``LATENCY`` seconds: the goal is ~1 s, the limit is generous
because the machine is shared, but a phase that does not check the stop (e.g. a calibration
that runs to its end, several seconds here) fails it. Every run must hand back a usable model.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_blind_denoise.core import (
    Phase,
    TileConfig,
    TrainEvent,
    TrainingSession,
    apply_pipeline,
    predict,
    run_pipeline,
    run_to_completion,
)
from napari_blind_denoise.core.methods import nnet
from tests.conftest import make_noisy, tiny_config

pytestmark = pytest.mark.slow

RUNS = 10
LATENCY = 3.0  # s from Stop to the end of the phase (~1 s aimed; margin: shared 2 cores)
TILE = TileConfig(tile_size=64, overlap=8)


class Stopper:
    """Sets ``stop`` after ``delay`` seconds from :meth:`arm`; records when."""

    def __init__(self, stop: threading.Event, delay: float) -> None:
        self.stop = stop
        self.fired_at: float | None = None
        self.timer = threading.Timer(delay, self._fire)

    def _fire(self) -> None:
        self.fired_at = time.perf_counter()
        self.stop.set()

    def arm(self) -> Stopper:
        self.timer.start()
        return self

    def join(self) -> None:
        self.timer.cancel()
        self.timer.join()


def drive(gen, on_event):
    """Exhaust ``gen``, calling ``on_event`` on every event; return its value."""
    while True:
        try:
            event = next(gen)
        except StopIteration as done:
            return done.value
        on_event(event)


@pytest.fixture(scope="module")
def small():
    return make_noisy((96, 96), seed=3)[0]


@pytest.fixture(scope="module")
def large():
    return make_noisy((384, 384), seed=4)[0]


@pytest.fixture(scope="module")
def trained(small):
    session = TrainingSession(small, "YX", tiny_config("nnet", steps=4))
    return run_to_completion(session.run())


def assert_usable(model, image) -> None:
    out = run_to_completion(predict(model, image, "YX", tile=TILE))
    assert out.shape == image.shape and np.isfinite(out).all()
    assert out.std() < image.std()  # it smooths: a real model, not the input handed back


def test_stop_during_training(small) -> None:
    rng = np.random.default_rng(101)
    for delay in rng.uniform(0.0, 0.5, RUNS):
        session = TrainingSession(small, "YX", tiny_config("nnet", steps=100_000))
        stop = threading.Event()
        seen: dict[str, object] = {}

        def on_event(ev, stop=stop, seen=seen, delay=delay):
            if isinstance(ev, TrainEvent) and "stopper" not in seen:
                seen["stopper"] = Stopper(stop, delay).arm()
            if isinstance(ev, Phase) and ev.name == "predict":
                seen["ended"] = time.perf_counter()

        result = drive(run_pipeline(session, stop=stop, tile=TILE), on_event)
        stopper = seen["stopper"]
        stopper.join()
        assert stopper.fired_at is not None
        assert seen["ended"] - stopper.fired_at < LATENCY
        info = result.trained.info
        assert info["stopped_early"] and info["steps"] < 100_000
        assert info["calibration"] == "stopped" and "noise_correction" not in info
        assert result.complete, "the stop request is used up by training: prediction follows"
        assert_usable(result.trained, small)


def test_stop_during_calibration(small, monkeypatch) -> None:
    real = nnet.measure_correction
    plan: dict[str, object] = {}

    def timed(denoiser, *args, **kwargs):
        # the k-th forward pass of the D-net in the calibration arms the stop timer
        calls = [0]

        def count(*_):
            calls[0] += 1
            if calls[0] == plan.get("at"):
                plan["stopper"] = Stopper(plan["stop"], plan["delay"]).arm()

        hook = denoiser.register_forward_pre_hook(count)
        try:
            return real(denoiser, *args, **kwargs)
        finally:
            hook.remove()
            plan["end"], plan["calls"] = time.perf_counter(), calls[0]

    monkeypatch.setattr(nnet, "measure_correction", timed)

    def run(stop):
        session = TrainingSession(small, "YX", tiny_config("nnet", steps=2))
        return run_to_completion(run_pipeline(session, stop=stop, tile=TILE))

    full = run(threading.Event())
    assert full.trained.info.get("noise_correction"), "the calibration did not run"
    passes = plan["calls"]
    assert passes > 20
    rng = np.random.default_rng(102)
    for _ in range(RUNS):
        stop = threading.Event()
        plan.update(stop=stop, at=int(rng.integers(1, passes // 2)),
                    delay=float(rng.uniform(0.0, 0.01)))
        result = run(stop)
        stopper = plan.pop("stopper")
        stopper.join()
        assert stopper.fired_at is not None
        assert plan["end"] - stopper.fired_at < LATENCY
        assert plan["calls"] < passes, "the calibration ran to its end"
        info = result.trained.info
        assert info["calibration"] == "stopped" and "noise_correction" not in info
        assert result.complete, "the stop request is used up by calibration: prediction follows"
        assert_usable(result.trained, small)


def _events_in_phase(trained, image, phase: str, outputs) -> int:
    """How many events ``phase`` (``predict`` or ``output``) yields when not stopped."""
    count = {"in": False, "n": 0}

    def on_event(ev):
        if isinstance(ev, Phase):
            count["in"] = ev.name == phase
        elif count["in"]:
            count["n"] += 1

    drive(apply_pipeline(trained, image, "YX", tile=TILE, outputs=outputs), on_event)
    return count["n"]


def _stop_in_phase(trained, image, phase: str, outputs, seed: int):
    """Stop ``phase`` RUNS times, each shortly after a random one of its events (so in the
    middle of the work that follows it); yields the results."""
    n = _events_in_phase(trained, image, phase, outputs)
    assert n >= 4, f"phase {phase} has too few steps ({n}) to stop inside it"
    rng = np.random.default_rng(seed)
    for _ in range(RUNS):
        stop = threading.Event()
        at, delay = int(rng.integers(0, n // 2)), float(rng.uniform(0.0, 0.01))
        seen = {"in": False, "n": 0}

        def on_event(ev, stop=stop, seen=seen, at=at, delay=delay):
            if isinstance(ev, Phase):
                seen["in"] = ev.name == phase
            elif seen["in"]:
                seen["n"] += 1
            if seen["in"] and seen["n"] == at and "stopper" not in seen:
                seen["stopper"] = Stopper(stop, delay).arm()

        result = drive(apply_pipeline(trained, image, "YX", tile=TILE, stop=stop,
                                      outputs=outputs), on_event)
        ended = time.perf_counter()
        stopper = seen["stopper"]
        stopper.join()
        assert stopper.fired_at is not None
        assert ended - stopper.fired_at < LATENCY
        yield result


def test_stop_during_prediction(trained, large, small) -> None:
    for result in _stop_in_phase(trained, large, "predict", (), seed=103):
        assert not result.complete and "denoised" not in result.images
    assert_usable(trained, small)


def test_stop_during_noise_maps(trained, large, small) -> None:
    outputs = trained.spec.outputs()
    for result in _stop_in_phase(trained, large, "output", outputs, seed=104):
        assert result.complete and not result.outputs_complete
        assert list(result.images) == ["denoised"]
        assert np.isfinite(result.images["denoised"]).all()
    assert_usable(trained, small)
