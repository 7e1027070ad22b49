"""Closing the dock or the viewer while training stops the worker cleanly."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gui

# Training checks the stop request once per step: the step in flight when the dock closes,
# and at most one more (the "last" step the stop turns the next one into), can still finish.
# Measured 2026-12-01: exactly 1 step after the close in 6 closes (3 runs of both tests below);
# the bound is the 2 the code allows. A stop honoured only every few steps (e.g. at the next
# validation, every 25) fails it; the old `< 100_000` could not fail.
# The measurements: docs/results/2026-12-01-test-margins.txt.
STEPS_AFTER_CLOSE = 2


def _start_long_training(train_widget, layer, qtbot):
    train_widget.layer_picker.select(layer)
    train_widget.steps.setValue(100_000)
    worker = train_widget.start_training()
    qtbot.waitUntil(lambda: len(train_widget.loss_plot.steps) >= 3, timeout=60_000)
    return worker


def test_closing_the_dock_stops_training(viewer, sample, train_widget, qtbot):
    runner = train_widget.runner
    worker = _start_long_training(train_widget, sample[0], qtbot)
    session = train_widget.session
    at_close = session._steps_done
    viewer.window.remove_dock_widget(train_widget)
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    qtbot.waitUntil(lambda: not runner.running, timeout=5_000)
    assert runner.stop_event.is_set()
    print(f"steps after the close: {session._steps_done - at_close}")
    assert at_close <= session._steps_done <= at_close + STEPS_AFTER_CLOSE
    assert "nuclei noisy denoised" not in viewer.layers


def test_closing_the_viewer_stops_training(viewer, sample, train_widget, qtbot):
    worker = _start_long_training(train_widget, sample[0], qtbot)
    session = train_widget.session
    at_close = session._steps_done
    viewer.close()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=30_000)
    print(f"steps after the close: {session._steps_done - at_close}")
    assert at_close <= session._steps_done <= at_close + STEPS_AFTER_CLOSE


def test_a_new_job_can_start_after_a_closed_one(viewer, sample, train_widget, qtbot):
    from tests.gui.conftest import run_job

    _start_long_training(train_widget, sample[0], qtbot)
    viewer.window.remove_dock_widget(train_widget)
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=30_000)
    _, again = viewer.window.add_plugin_dock_widget("napari-blind-denoise", "Denoise (train)")
    again.output.edit.setText(train_widget.output.edit.text())
    again.layer_picker.select(sample[0])
    again.time_limit.setValue(0)
    again.steps.setValue(3)
    run_job(qtbot, again, again.start_training)
    assert "nuclei noisy denoised" in viewer.layers


def test_job_lock_released_when_a_worker_cannot_be_created(monkeypatch, qtbot):
    from napari_blind_denoise.gui import _common

    def gen(*, stop):
        yield 1
        return 2

    runner = _common.JobRunner("Test", on_event=lambda _: None, on_done=lambda _: None,
                               on_finish=lambda: None)

    def broken(*_a, **_k):
        raise RuntimeError("no thread pool")

    with monkeypatch.context() as m:
        m.setattr(_common, "create_worker", broken)
        with pytest.raises(RuntimeError, match="no thread pool"):
            runner.start(gen)
    worker = runner.start(gen)
    assert worker is not None, "the job lock leaked after the failed start"
    qtbot.waitUntil(lambda: not runner.running, timeout=10_000)


PHASES = ("train", "calibration", "predict", "output")
# the worker must end this soon after Stop/close: ~1 s is the aim; the margin is for a
# shared 2-core machine and the GUI test's polling
STOP_LIMIT = 3.0


def _reach(phase, widget, qtbot, calibrating):
    """Wait until the running job is in ``phase``."""
    if phase == "train":
        qtbot.waitUntil(lambda: len(widget.loss_plot.steps) >= 2, timeout=60_000)
    elif phase == "calibration":
        qtbot.waitUntil(calibrating.is_set, timeout=60_000)
    else:
        qtbot.waitUntil(lambda: widget._phase == phase, timeout=120_000)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["stop", "close"])
@pytest.mark.parametrize("phase", PHASES)
def test_stop_or_close_in_every_phase_ends_the_worker(viewer, sample, train_widget, qtbot,
                                                      monkeypatch, phase, how):
    """Stop (button) or close (dock/viewer) at a seeded random point of each phase: the GUI
    thread is never blocked, the worker ends within 2 s, no worker thread is left, and after
    a Stop the kept model predicts."""
    import random
    import time

    from qtpy.QtCore import QThreadPool

    calibrating = _mark_calibration(monkeypatch)
    pool = QThreadPool.globalInstance()
    idle_threads = pool.activeThreadCount()
    widget = train_widget
    widget.method.setCurrentIndex(widget.method.findData("nnet"))
    widget.layer_picker.select(sample[0])
    widget.steps.setValue(100_000 if phase == "train" else 20)
    runner = widget.runner
    worker = widget.start_training()
    assert worker is not None
    _reach(phase, widget, qtbot, calibrating)
    qtbot.wait(int(1000 * random.Random(f"{phase}-{how}").uniform(0.0, 0.1)))
    assert worker.is_running, f"the job ended before the {phase} phase could be stopped"
    t0 = time.perf_counter()
    (widget.stop if how == "stop" else runner.close)()
    blocked = time.perf_counter() - t0
    assert blocked < 0.1, f"{how} blocked the GUI thread for {blocked:.2f} s"
    if how == "stop" and phase in ("train", "calibration"):
        # the request is used up by training: the job goes on to predict; stop that too
        qtbot.waitUntil(lambda: widget._phase == "predict", timeout=10_000)
        # training ended at the Stop; the final validation and saving the kept model come
        # before prediction starts (seconds on a loaded 2-core machine)
        assert time.perf_counter() - t0 < 6.0
        t0 = time.perf_counter()
        widget.stop()
    qtbot.waitUntil(lambda: not worker.is_running, timeout=10_000)
    assert time.perf_counter() - t0 < STOP_LIMIT
    qtbot.waitUntil(lambda: not runner.running, timeout=5_000)
    qtbot.waitUntil(lambda: pool.activeThreadCount() == idle_threads, timeout=5_000)
    if how == "stop":
        _assert_model_kept(widget.trained, sample[0], phase)
    else:
        assert widget.trained is None, "results of a closed job were kept"


def _mark_calibration(monkeypatch):
    """An event set when the N-net calibration starts (in the worker thread)."""
    import threading

    from napari_blind_denoise.core.methods import nnet

    calibrating = threading.Event()
    real = nnet.measure_correction

    def marked(*args, **kwargs):
        calibrating.set()
        return real(*args, **kwargs)

    monkeypatch.setattr(nnet, "measure_correction", marked)
    return calibrating


def _assert_model_kept(trained, layer, phase):
    import numpy as np

    from napari_blind_denoise.core import predict, run_to_completion

    assert trained is not None, "no model kept"
    if phase in ("train", "calibration"):
        assert trained.info.get("calibration") == "stopped"
    small = np.asarray(layer.data[:64, :64], np.float32)
    out = run_to_completion(predict(trained, small, "YX"))
    assert np.isfinite(out).all() and out.std() < small.std()
