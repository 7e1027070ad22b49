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
