"""Denoise (train) dock: the full flow, Stop, responsiveness, refusals and errors."""

from __future__ import annotations

import traceback

import numpy as np
import pytest
import zarr

from tests.gui.conftest import psnr_vs, run_job

pytestmark = pytest.mark.gui


def test_full_flow_adds_zarr_backed_denoised_layer(viewer, sample, train_widget, qtbot):
    noisy, clean = sample
    noisy.scale = (0.5, 0.25)
    noisy.translate = (3.0, -2.0)
    before = np.array(noisy.data, copy=True)
    train_widget.layer_picker.select(noisy)
    train_widget.steps.setValue(80)
    run_job(qtbot, train_widget, train_widget.start_training)

    out = viewer.layers["nuclei noisy denoised"]
    assert isinstance(out.data, zarr.Array)
    assert out.data.shape == noisy.data.shape
    assert tuple(out.scale) == (0.5, 0.25)
    assert tuple(out.translate) == (3.0, -2.0)
    meta = out.metadata["napari_blind_denoise"]
    assert meta["source"] == "nuclei noisy" and meta["config"]["method"] == "n2v"
    assert str(out.data.store).find("results") >= 0 or meta["store"].find("results") >= 0
    assert np.array_equal(noisy.data, before), "the input layer must never change"
    gain = psnr_vs(out.data[:], clean.data) - psnr_vs(noisy.data, clean.data)
    assert gain > 3.0, f"denoised layer only {gain:.2f} dB better than the input"
    assert train_widget.trained.info["steps"] == 80
    assert train_widget.save_button.isEnabled() and train_widget.train_button.isEnabled()


def test_loss_plot_and_progress_receive_points(viewer, sample, train_widget, qtbot):
    train_widget.layer_picker.select(sample[0])
    run_job(qtbot, train_widget, train_widget.start_training)
    plot = train_widget.loss_plot
    assert plot.steps == list(range(1, 41))
    assert len(plot.val_steps) >= 2
    assert len(plot.train_line.get_xdata()) == 40
    assert train_widget.progress.value() == 1000
    assert not train_widget.noise_plot.isVisible(), "n2v has no noise model to plot"


def test_gui_stays_responsive_during_training(viewer, sample, train_widget, qtbot):
    import time

    from qtpy.QtCore import QTimer

    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(50)
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(100_000)
    worker = train_widget.start_training()
    assert worker is not None
    qtbot.waitUntil(lambda: len(train_widget.loss_plot.steps) >= 30, timeout=60_000)
    t_stop = time.perf_counter()
    train_widget.stop()
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=60_000)
    timer.stop()
    during = [t for t in ticks if t <= t_stop]
    assert len(during) >= 5, "the GUI event loop did not run while training"
    gaps = np.diff(during)
    assert gaps.max() < 2.0, f"the GUI froze for {gaps.max():.1f} s during training"


def test_stop_keeps_best_model_and_predicts(viewer, sample, train_widget, qtbot):
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(100_000)
    train_widget.time_limit.setValue(20)  # the learning-rate schedule follows the time limit
    train_widget.start_training()
    qtbot.waitUntil(lambda: len(train_widget.loss_plot.steps) >= 40, timeout=60_000)
    train_widget.stop()
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=60_000)
    info = train_widget.trained.info
    assert info["stopped_early"] is True
    assert 40 <= info["steps"] < 100_000
    assert info["train_seconds"] < 20
    assert info["best_step"] >= 1
    out = viewer.layers["nuclei noisy denoised"]
    assert out.data.shape == sample[0].data.shape
    assert np.isfinite(out.data[:]).all()
    assert psnr_vs(out.data[:], sample[1].data) > psnr_vs(sample[0].data, sample[1].data)


def test_stop_during_prediction_adds_no_layer(viewer, train_widget, qtbot, tmp_path):
    big = np.random.default_rng(0).normal(100, 10, (6, 256, 256)).astype(np.float32)
    viewer.add_image(big, name="stack")
    train_widget.layer_picker.select(viewer.layers["stack"])
    train_widget.steps.setValue(5)
    train_widget.tile_size.setValue(64)
    train_widget.start_training()
    qtbot.waitUntil(lambda: train_widget._phase == "predict", timeout=60_000)
    train_widget.stop()
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=60_000)
    assert "stack denoised" not in viewer.layers
    assert train_widget.trained is not None, "the trained model is kept"
    left = [p.name for p in (tmp_path / "results").iterdir() if p.name != "models"]
    assert not left, f"stores left behind: {left}"


def test_second_training_is_refused(viewer, sample, train_widget, qtbot, notifications):
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(100_000)
    first = train_widget.start_training()
    assert first is not None
    assert train_widget.start_training() is None
    assert any(level == "warning" and "already running" in msg for level, msg in notifications)
    assert not train_widget.train_button.isEnabled()
    train_widget.stop()
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=60_000)


def test_error_in_worker_notifies_and_reenables(viewer, sample, train_widget, qtbot,
                                                notifications, monkeypatch, caplog):
    from napari_blind_denoise.core import pipeline

    def broken_save(*_args, **_kw):
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "save_model", broken_save)
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(5)
    run_job(qtbot, train_widget, train_widget.start_training)
    errors = [msg for level, msg in notifications if level == "error"]
    assert errors and "disk full" in errors[0] and errors[0].startswith("Training failed")
    logged = [r for r in caplog.records if r.name == "napari_blind_denoise" and r.exc_info]
    assert logged, "the traceback goes to the log"
    assert "broken_save" in "".join(traceback.format_exception(*logged[0].exc_info))
    assert train_widget.train_button.isEnabled()
    assert not train_widget.stop_button.isEnabled()
    assert "nuclei noisy denoised" not in viewer.layers


def test_tiny_layer_refused_before_work(viewer, train_widget, notifications):
    viewer.add_image(np.random.default_rng(0).random((20, 20), np.float32), name="tiny")
    train_widget.layer_picker.select(viewer.layers["tiny"])
    assert train_widget.start_training() is None
    assert not train_widget.runner.running
    assert any(level == "error" and "smaller than" in msg for level, msg in notifications)


def test_bad_axes_override_refused(viewer, sample, train_widget, notifications):
    train_widget.layer_picker.select(sample[0])
    train_widget.axes.setText("ZYX")
    assert train_widget.start_training() is None
    assert any("axes" in msg for level, msg in notifications if level == "error")


def test_method_list_comes_from_the_registry(train_widget):
    from napari_blind_denoise.core.methods import METHODS

    ids = [train_widget.method.itemData(i) for i in range(train_widget.method.count())]
    assert ids == list(METHODS)


def test_device_chooser_shows_detection(train_widget):
    from napari_blind_denoise.core.device import available_devices

    labels = [train_widget.device.itemText(i) for i in range(train_widget.device.count())]
    assert labels[0].startswith("Automatic: ")
    assert [label for _, label in available_devices()] == labels[1:]
    assert train_widget.device.device() == "auto"


def test_preset_sets_parameters(train_widget):
    from napari_blind_denoise.core.methods import PRESETS

    train_widget.preset.setCurrentIndex(train_widget.preset.findData("gpu"))
    assert train_widget.steps.value() == PRESETS["gpu"][1].steps
    assert train_widget.batch_size.value() == PRESETS["gpu"][1].batch_size
    train_widget.preset.setCurrentIndex(train_widget.preset.findData("cpu"))
    assert train_widget.patch_size.value() == PRESETS["cpu"][1].patch_size
    cfg = train_widget.config()
    assert cfg.model == PRESETS["cpu"][0]


def test_method_presets_follow_the_method(train_widget):
    from napari_blind_denoise.core.methods import default_config

    assert not train_widget.exclude.isVisibleTo(train_widget)  # n2v: no exclusion
    train_widget.method.setCurrentIndex(train_widget.method.findData("s2s"))
    for preset in ("gpu", "cpu"):
        train_widget.preset.setCurrentIndex(train_widget.preset.findData(preset))
        own = default_config("s2s", preset)
        assert train_widget.steps.value() == own.train.steps
        assert train_widget.learning_rate.value() == pytest.approx(own.train.learning_rate)
        assert train_widget.config().model == own.model
        assert train_widget.config().self2self == own.self2self
    # values the user typed survive a change of method; untouched ones follow its preset
    train_widget.steps.setValue(7)
    train_widget.method.setCurrentIndex(train_widget.method.findData("n2v"))
    assert train_widget.steps.value() == 7
    for preset in ("gpu", "cpu"):  # choosing a preset applies it
        train_widget.preset.setCurrentIndex(train_widget.preset.findData(preset))
    n2v, s2s = default_config("n2v", "cpu").train, default_config("s2s", "cpu").train
    assert train_widget.steps.value() == n2v.steps
    assert train_widget.learning_rate.value() == pytest.approx(n2v.learning_rate)
    train_widget.method.setCurrentIndex(train_widget.method.findData("s2s"))
    assert train_widget.learning_rate.value() == pytest.approx(s2s.learning_rate)
    assert s2s.learning_rate != pytest.approx(n2v.learning_rate)


def test_save_model_then_reload(viewer, sample, train_widget, qtbot, tmp_path):
    from napari_blind_denoise.core.checkpoint import load_model

    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(5)
    run_job(qtbot, train_widget, train_widget.start_training)
    path = train_widget.save_model_to(tmp_path / "my-model")
    loaded = load_model(path)
    assert loaded.method == "n2v" and loaded.axes == "YX"


def test_axes_override_trains_a_two_channel_layer(viewer, train_widget, qtbot):
    rng = np.random.default_rng(3)
    data = rng.normal(100, 5, (2, 96, 96)).astype(np.float32)
    layer = viewer.add_image(data, name="two channels")
    train_widget.layer_picker.select(layer)
    assert train_widget.axes.placeholderText() == "ZYX"
    train_widget.axes.setText("cyx")
    train_widget.steps.setValue(3)
    run_job(qtbot, train_widget, train_widget.start_training)
    out = viewer.layers["two channels denoised"]
    assert out.data.shape == data.shape
    assert out.metadata["napari_blind_denoise"]["axes"] == "CYX"
    assert train_widget.trained.channels == 2


def test_zarr_backed_stack_is_read_lazily_and_left_alone(viewer, train_widget, qtbot, tmp_path):
    rng = np.random.default_rng(5)
    z = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=(4, 96, 96),
                        chunks=(1, 96, 96), dtype="uint16")
    z[...] = rng.poisson(50, (4, 96, 96)).astype(np.uint16)
    before = z[...]
    stack = zarr.open_array(str(tmp_path / "in.zarr"), mode="r")
    layer = viewer.add_image(stack, name="lazy", multiscale=False)
    assert layer.data is stack
    train_widget.layer_picker.select(layer)
    train_widget.steps.setValue(5)
    run_job(qtbot, train_widget, train_widget.start_training)
    out = viewer.layers["lazy denoised"]
    assert out.data.shape == (4, 96, 96)
    assert out.metadata["napari_blind_denoise"]["axes"] == "ZYX"
    assert np.array_equal(zarr.open_array(str(tmp_path / "in.zarr"), mode="r")[...], before)


def test_a_registered_method_trains_from_the_widget(viewer, sample, qtbot, tmp_path):
    """A method registered at run time (the test-only one) is listed, trains, and its
    declared extra output becomes a layer, with no widget code for it."""
    from napari_blind_denoise.core import register, unregister
    from tests.core.methods.identity_blind_spot import IdentityBlindSpot

    register(IdentityBlindSpot())
    try:
        _, widget = viewer.window.add_plugin_dock_widget("napari-blind-denoise",
                                                         "Denoise (train)")
        widget.output.edit.setText(str(tmp_path / "results"))
        widget.time_limit.setValue(0)
        widget.steps.setValue(5)
        widget.patch_size.setValue(48)
        index = widget.method.findData("ibs-test")
        assert index >= 0
        widget.method.setCurrentIndex(index)
        assert not widget.noise_kind.isVisible()
        widget.layer_picker.select(sample[0])
        run_job(qtbot, widget, widget.start_training)
        assert "nuclei noisy denoised" in viewer.layers
        spread = viewer.layers["nuclei noisy spread"]
        assert spread.colormap.name == "viridis"
        assert spread.data.shape == sample[0].data.shape
    finally:
        unregister("ibs-test")


def test_blind_spot_choice_and_what_was_measured(viewer, train_widget, qtbot, tmp_path):
    """Scan-line noise: auto measures it and says so under the status; a typed block is
    used as given; nonsense is refused with a message."""
    from napari_blind_denoise.core import add_noise
    from tests.conftest import make_blobs

    clean = make_blobs((128, 128), seed=6) * 300.0 + 50.0
    layer = viewer.add_image(add_noise(clean, "scanline", sigma=0.1, length=3), name="scan")
    train_widget.layer_picker.select(layer)
    train_widget.steps.setValue(3)
    assert train_widget.config().mask.blind_spot == "auto"
    run_job(qtbot, train_widget, train_widget.start_training)
    assert "using a 3×7 blind spot" in train_widget.notice.text()
    assert train_widget.trained.config.mask.blind_spot == "3x7"
    # the blend with a calibrated blur, on by default: 3 steps leave the blur most weight
    blend = train_widget.trained.config.blend
    assert blend.mode == "auto" and blend.active
    assert "blended with a calibrated Gaussian blur" in train_widget.status.text()
    from napari_blind_denoise.gui._models import describe_model

    assert "blended with a calibrated Gaussian blur" in describe_model(train_widget.trained)
    train_widget.blend.setChecked(False)
    assert train_widget.config().blend.mode == "off"
    train_widget.blind_spot.setCurrentText("3x3")
    assert train_widget.config().mask.blind_spot == "3x3"
    train_widget.blind_spot.setCurrentText("4x4")
    assert train_widget.start_training() is None
    assert "blind spot must be" in train_widget.status.text()


def test_self2self_adds_its_uncertainty_layer(viewer, train_widget, qtbot):
    """s2s from the widget: its preset, a denoised layer and the ensemble's uncertainty."""
    from tests.conftest import make_noisy

    layer = viewer.add_image(make_noisy((64, 64))[0], name="small")
    train_widget.method.setCurrentIndex(train_widget.method.findData("s2s"))
    train_widget.time_limit.setValue(0)
    train_widget.steps.setValue(3)
    train_widget.patch_size.setValue(32)
    train_widget.batch_size.setValue(2)
    train_widget.layer_picker.select(layer)
    assert train_widget.exclude.isVisibleTo(train_widget)
    lost = np.zeros((64, 64), np.uint8)
    lost[20:30, 20:30] = 1
    layer.data[20:30, 20:30] = 1e6  # corrupted: must not reach the result
    viewer.add_labels(lost, name="lost")
    train_widget.exclude.setCurrentText("lost")
    train_widget.exclusion.impulses.setChecked(True)
    run_job(qtbot, train_widget, train_widget.start_training)
    assert "small denoised" in viewer.layers
    meta = viewer.layers["small denoised"].metadata["napari_blind_denoise"]
    assert meta["excluded"] == {"mask": "lost", "impulses": True}
    filled = np.asarray(viewer.layers["small denoised"].data)[20:30, 20:30]
    assert np.isfinite(filled).all() and filled.max() < 1e4
    spread = viewer.layers["small uncertainty"]
    assert spread.colormap.name == "magma"
    assert spread.data.shape == (64, 64) and np.asarray(spread.data).min() > 0


def test_self2self_thresholds_and_impulses(viewer, train_widget):
    """The saturation and dead-pixel thresholds and the impulse detector: shown for s2s only,
    off by default, starting at the layer's value range; they mark what the CLI's
    --exclude-above/--exclude-below/--exclude-impulses would."""
    from tests.core.data.test_exclude import noisy_8bit, salt_and_pepper

    image, hit = salt_and_pepper(noisy_8bit((64, 64)), 0.05)
    layer = viewer.add_image(image, name="speckled")
    train_widget.layer_picker.select(layer)
    ex = train_widget.exclusion
    rows = (ex.above_on, ex.above, ex.below_on, ex.below, ex.impulses)
    train_widget.method.setCurrentIndex(train_widget.method.findData("n2v"))
    assert not any(w.isVisibleTo(train_widget) for w in rows)
    train_widget.method.setCurrentIndex(train_widget.method.findData("s2s"))
    assert all(w.isVisibleTo(train_widget) for w in rows)
    assert (ex.below.value(), ex.above.value()) == (0, 255)
    assert not ex.above.isEnabled() and not ex.impulses.isChecked()
    assert ex.apply(layer.data, "YX") is layer.data  # nothing chosen: the layer's data
    ex.below_on.setChecked(True)
    ex.impulses.setChecked(True)
    assert ex.below.isEnabled()
    assert ex.settings() == {"below": 0, "impulses": True}
    counts = ex.apply(layer.data, "YX").counts()
    assert counts["below"] == (image == 0).sum()
    assert counts["impulses"] >= 0.95 * hit.sum()
    other = viewer.add_image(image[::-1] // 2 + 10, name="other")
    train_widget.layer_picker.select(other)  # a threshold turned on keeps its value
    assert ex.below.value() == 0 and ex.above.value() == other.contrast_limits_range[1]


def test_the_loss_plot_names_the_methods_loss(train_widget):
    """The y axis says what is plotted: the masked MSE of a blind-spot method, the plain
    MSE against the other acquisition for n2n, the J-invariant loss of the classical
    calibration."""
    labels = {}
    for method in ("n2v", "n2n", "classical"):
        train_widget.method.setCurrentIndex(train_widget.method.findData(method))
        labels[method] = train_widget.loss_plot.ax.get_ylabel()
    assert labels == {"n2v": "masked MSE", "n2n": "MSE (pair)",
                      "classical": "J-invariant loss"}


def test_the_time_limit_follows_the_classical_budget(viewer):
    """An unedited form: the classical method brings its calibration budget (seconds), a
    network method the widget's default back."""
    from napari_blind_denoise.core.methods import default_config
    from napari_blind_denoise.gui.train_widget import DEFAULT_TIME_LIMIT
    from tests.gui.conftest import PLUGIN

    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    widget.method.setCurrentIndex(widget.method.findData("classical"))
    assert widget.time_limit.value() == default_config("classical").train.time_budget == 10
    widget.method.setCurrentIndex(widget.method.findData("n2v"))
    assert widget.time_limit.value() == DEFAULT_TIME_LIMIT


def test_quality_gpu_runs_the_whole_schedule(viewer):
    """Quality GPU sets no time limit, so s2s gets the paper's 150,000 steps; Fast CPU keeps
    the demo-sized limit; a method's own budget (classical) wins over both."""
    from napari_blind_denoise.core.methods import default_config
    from napari_blind_denoise.gui.train_widget import DEFAULT_TIME_LIMIT
    from tests.gui.conftest import PLUGIN

    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    widget.method.setCurrentIndex(widget.method.findData("s2s"))
    widget.preset.setCurrentIndex(widget.preset.findData("gpu"))
    assert widget.time_limit.value() == 0 and widget.time_limit.text() == "no limit"
    train = widget.config().train
    assert train.time_budget is None
    assert train.steps == default_config("s2s", "gpu").train.steps == 150_000
    widget.preset.setCurrentIndex(widget.preset.findData("cpu"))
    assert widget.time_limit.value() == DEFAULT_TIME_LIMIT
    assert widget.config().train.time_budget == DEFAULT_TIME_LIMIT
    for method, gpu_limit in (("n2v", 0), ("classical", 10)):
        widget.method.setCurrentIndex(widget.method.findData(method))
        widget.preset.setCurrentIndex(widget.preset.findData("gpu"))
        assert widget.time_limit.value() == gpu_limit, method
        widget.preset.setCurrentIndex(widget.preset.findData("cpu"))


def test_classical_filter_is_calibrated_in_the_worker(viewer, sample, train_widget, qtbot):
    """Listed with "seconds" in its description; one progress point per candidate filter;
    the chosen filter in the notice; the denoised layer added."""
    train_widget.method.setCurrentIndex(train_widget.method.findData("classical"))
    assert "seconds" in train_widget.method_info.text()
    train_widget.time_limit.setValue(10)  # the fixture's 0 ("no limit") would try BM3D too
    train_widget.layer_picker.select(sample[0])
    run_job(qtbot, train_widget, train_widget.start_training)
    chosen = train_widget.trained.info["adapted"]["classical"]
    assert f"calibrated {chosen['summary']}".lower() in train_widget.notice.text().lower()
    assert train_widget.loss_plot.steps == list(range(1, chosen["candidates_tried"] + 1))
    assert train_widget.progress.value() == 1000
    out = viewer.layers["nuclei noisy denoised"]
    assert out.metadata["napari_blind_denoise"]["adapted"]["classical"] == chosen
    gain = psnr_vs(out.data[:], sample[1].data) - psnr_vs(sample[0].data, sample[1].data)
    assert gain > 3.0, f"denoised layer only {gain:.2f} dB better than the input"


def test_noise_fit_choice_reaches_the_config(train_widget):
    """bsn's noise parameters: Default follows the core's default per kind; Per image
    reaches the config; impulse noise (learned only) disables the choice; methods without
    estimated noise hide it."""
    w = train_widget
    w.method.setCurrentIndex(w.method.findData("bsn"))
    assert w.noise_fit.isVisibleTo(w) and w.noise_fit.isEnabled()
    # the default kind, Poisson-Gaussian, is estimated and held; Gaussian's default: learn
    assert w.config().noise_model.kind == "poisson-gaussian"
    assert w.config().noise_model.fit == "estimate"
    w.noise_kind.setCurrentIndex(w.noise_kind.findData("gaussian"))
    assert w.config().noise_model.fit == "learn"
    w.noise_kind.setCurrentIndex(w.noise_kind.findData("poisson-gaussian"))
    assert w.config().noise_model.fit == "estimate"
    w.noise_fit.setCurrentIndex(w.noise_fit.findData("network"))
    assert w.config().noise_model.fit == "network"
    w.noise_kind.setCurrentIndex(w.noise_kind.findData("impulse"))
    assert not w.noise_fit.isEnabled() and w.noise_fit.currentData() is None
    assert w.config().noise_model.fit == "learn"
    w.method.setCurrentIndex(w.method.findData("nnet"))
    assert not w.noise_fit.isVisibleTo(w) and w.config().noise_model.fit == "learn"


@pytest.mark.slow
def test_bayesian_blind_spot_adds_noise_and_posterior_layers(viewer, train_widget, qtbot):
    """bsn from the widget: its noise kinds, the noise plot, noise std and posterior std."""
    from tests.conftest import make_noisy

    layer = viewer.add_image(make_noisy((64, 64))[0], name="small")
    train_widget.method.setCurrentIndex(train_widget.method.findData("bsn"))
    kinds = [train_widget.noise_kind.itemData(i) for i in range(train_widget.noise_kind.count())]
    assert kinds == ["poisson-gaussian", "gaussian", "impulse"]  # the first is the default
    assert train_widget.noise_plot.isVisibleTo(train_widget)
    train_widget.noise_kind.setCurrentIndex(0)
    assert train_widget.config().noise_model.kind == "poisson-gaussian"
    train_widget.time_limit.setValue(0)
    train_widget.steps.setValue(3)
    train_widget.patch_size.setValue(32)
    train_widget.batch_size.setValue(2)
    train_widget.layer_picker.select(layer)
    run_job(qtbot, train_widget, train_widget.start_training)
    assert "small denoised" in viewer.layers
    noise = np.asarray(viewer.layers["small noise std"].data)
    post = np.asarray(viewer.layers["small posterior std"].data)
    assert noise.shape == post.shape == (64, 64)
    assert (post > 0).all() and (post < noise).all()


def test_live_preview_layer_is_updated_in_place(viewer, train_widget, qtbot):
    """s2s: the preview is on by default; one preview layer appears over the crop, is
    updated in place (the same layer, new data) as training goes on, is not the result and
    makes way for it at the end."""
    from napari_blind_denoise.core import PreviewOptions
    from tests.conftest import make_noisy

    layer = viewer.add_image(make_noisy((64, 64))[0], name="small")
    layer.scale, layer.translate = (2.0, 0.5), (10.0, -4.0)
    train_widget.method.setCurrentIndex(train_widget.method.findData("n2v"))
    assert not train_widget.live_preview.isChecked()
    train_widget.method.setCurrentIndex(train_widget.method.findData("s2s"))
    assert train_widget.live_preview.isChecked()
    train_widget.time_limit.setValue(0)
    train_widget.steps.setValue(7)
    train_widget.patch_size.setValue(32)
    train_widget.batch_size.setValue(2)
    train_widget.layer_picker.select(layer)
    train_widget.preview_options = PreviewOptions(every=2, size=32)
    seen = []  # (layer, step, data) at every insertion or data change

    def record(lay):
        meta = lay.metadata["napari_blind_denoise"]
        seen.append((lay, meta["step"], np.array(lay.data, copy=True)))

    def inserted(event):
        lay = event.value
        if lay.name == "small preview":
            record(lay)
            lay.events.data.connect(lambda *_: record(lay))

    viewer.layers.events.inserted.connect(inserted)
    run_job(qtbot, train_widget, train_widget.start_training)

    assert [step for _, step, _ in seen] == [2, 4, 6]
    preview = seen[0][0]
    assert all(lay is preview for lay, _, _ in seen)  # one layer, updated in place
    assert preview.data.shape == (32, 32)
    assert tuple(preview.scale) == (2.0, 0.5)
    assert tuple(preview.translate) == (10.0 + 16 * 2.0, -4.0 + 16 * 0.5)  # over its crop
    assert not np.array_equal(seen[0][2], seen[-1][2])
    result = viewer.layers["small denoised"]
    assert result is not preview and result.data.shape == (64, 64)
    assert "small preview" not in viewer.layers  # the result supersedes it


def test_downsample_choice(viewer, train_widget, qtbot, monkeypatch):
    """Off by default; auto on scan-line noise trains on stride-3 sub-images and says so;
    hidden (and off) for methods without it; nonsense is refused with a message."""
    from napari_blind_denoise.core import add_noise, pipeline
    from tests.conftest import make_blobs

    # the classical yardstick after training is not what is tested here, and it takes
    # minutes on a loaded 2-core machine
    monkeypatch.setattr(pipeline, "compare_with_classical", lambda *args: None)

    assert train_widget.downsample.isVisibleTo(train_widget)  # n2v
    assert train_widget.config().mask.downsample == 1
    clean = make_blobs((128, 128), seed=6) * 300.0 + 50.0
    layer = viewer.add_image(add_noise(clean, "scanline", sigma=0.1, length=3), name="scan")
    train_widget.layer_picker.select(layer)
    train_widget.steps.setValue(3)
    train_widget.downsample.setCurrentText("auto")
    run_job(qtbot, train_widget, train_widget.start_training)
    assert "pixel-shuffle stride 3" in train_widget.notice.text()
    assert train_widget.trained.config.mask.downsample == 3
    from napari_blind_denoise.gui._models import describe_model

    assert describe_model(train_widget.trained).endswith(", pixel-shuffle stride 3")
    train_widget.downsample.setCurrentText("0")
    assert train_widget.start_training() is None
    assert "downsample must be" in train_widget.status.text()
    train_widget.method.setCurrentIndex(train_widget.method.findData("nnet"))
    assert not train_widget.downsample.isVisibleTo(train_widget)
    assert train_widget.config().mask.downsample == 1
    assert not train_widget.blend.isVisibleTo(train_widget)  # nnet: no blend
    assert train_widget.config().blend is None
