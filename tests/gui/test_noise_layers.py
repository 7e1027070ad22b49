"""Methods with a noise model (nnet): noise plot during training and noise-model layers."""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from tests.gui.conftest import run_job

pytestmark = pytest.mark.gui


def _select_method(widget, method_id):
    widget.method.setCurrentIndex(widget.method.findData(method_id))


def test_nnet_adds_noise_layers_and_fills_the_noise_plot(viewer, sample, train_widget, qtbot):
    noisy, _ = sample
    _select_method(train_widget, "nnet")
    assert train_widget.noise_plot.isVisible() and train_widget.noise_kind.isVisible()
    train_widget.noise_kind.setCurrentIndex(train_widget.noise_kind.findData("gmm2"))
    assert train_widget.config().noise_model.kind == "gmm2"
    train_widget.layer_picker.select(noisy)
    train_widget.steps.setValue(30)
    run_job(qtbot, train_widget, train_widget.start_training)

    den = viewer.layers["nuclei noisy denoised"]
    std = viewer.layers["nuclei noisy noise std"]
    res = viewer.layers["nuclei noisy residual"]
    for layer in (den, std, res):
        assert isinstance(layer.data, zarr.Array)
        assert layer.data.shape == noisy.data.shape
        assert tuple(layer.scale) == tuple(noisy.scale)
    s = std.data[:]
    assert np.isfinite(s).all() and (s > 0).all()
    expected = noisy.data.astype(np.float32) - den.data[:]
    np.testing.assert_allclose(res.data[:], expected, atol=1e-3)
    plot = train_widget.noise_plot
    assert plot.n_updates >= 2, "the noise curve was not updated during training"
    assert len(plot.model_line.get_xdata()) >= 32
    assert len(plot.empirical_line.get_xdata()) >= 5
    assert {"a", "b"} <= set(train_widget.result.tables["noise_model"])
    assert "variance" in train_widget.status.text()


def test_noise_plot_hidden_for_methods_without_noise_model(train_widget):
    _select_method(train_widget, "nnet")
    _select_method(train_widget, "n2s")
    assert not train_widget.noise_plot.isVisible()
    assert not train_widget.noise_kind.isVisible()
    assert train_widget.config().noise_model is None


@pytest.fixture
def nnet_trained(viewer, sample, train_widget, qtbot):
    """The sample denoised by a short nnet run in the train widget."""
    _select_method(train_widget, "nnet")
    train_widget.noise_kind.setCurrentIndex(train_widget.noise_kind.findData("gmm3"))
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(60)
    run_job(qtbot, train_widget, train_widget.start_training)
    return train_widget.result


def test_noise_inspector_density_curve_and_export(viewer, sample, nnet_trained, qtbot,
                                                  tmp_path):
    import json

    _, insp = viewer.window.add_plugin_dock_widget("napari-blind-denoise", "Noise inspector")
    assert insp.models.path() == str(nnet_trained.model_path)
    assert insp.trained is not None
    insp.noisy_picker.select(sample[0])
    assert insp.denoised_picker.currentText() == "nuclei noisy denoised"
    run_job(qtbot, insp, insp.start)
    assert insp.slider.isEnabled()
    # the slider reaches the bright nuclei (clean sample: background 100, nuclei up to 180)
    lo, hi = insp._range()
    den = np.asarray(viewer.layers["nuclei noisy denoised"].data[:])
    assert lo <= np.median(den) and hi >= np.percentile(den, 99)
    insp.set_level(300.0)
    assert insp.slider.value() > 0
    lines = insp.density_ax.get_lines()
    assert len(lines) == 1 + 3, "3 mixture components (gmm3) plus their sum"
    assert insp.density_ax.patches, "the residual histogram is drawn"
    assert "predicted std" in insp.level_label.text()
    assert "a = " in insp.fit_label.text()
    paths = insp.export_to(tmp_path / "noise")
    csv = (tmp_path / "noise" / "noise_curve.csv").read_text().splitlines()
    assert csv[0] == "signal,std" and len(csv) >= 33
    summary = json.loads((tmp_path / "noise" / "noise_model.json").read_text())
    assert {"a", "b", "kind"} <= set(summary) and summary["kind"] == "gmm3"
    assert len(paths) == 2
    # the sample's camera noise is pixel-independent: measured and shown as such
    assert summary["noise_correlation_measured"]["independent"]
    assert "pixel-independent" in insp.acf_label.text()
    assert insp.acf_ax.images, "the autocorrelation map is drawn"


def test_noise_inspector_click_sets_level(viewer, sample, nnet_trained, qtbot):
    from types import SimpleNamespace

    _, insp = viewer.window.add_plugin_dock_widget("napari-blind-denoise", "Noise inspector")
    insp.noisy_picker.select(sample[0])
    run_job(qtbot, insp, insp.start)
    den = viewer.layers["nuclei noisy denoised"]
    assert insp._on_click in den.mouse_drag_callbacks
    y, x = 100, 100
    insp._on_click(den, SimpleNamespace(position=(y, x)))
    lo, hi = insp._range()
    assert insp.level == pytest.approx(float(np.clip(den.data[y, x], lo, hi)), rel=1e-5)


def test_noise_inspector_refuses_model_without_noise_model(viewer, sample, train_widget,
                                                           qtbot, notifications):
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(3)
    run_job(qtbot, train_widget, train_widget.start_training)
    _, insp = viewer.window.add_plugin_dock_widget("napari-blind-denoise", "Noise inspector")
    assert insp.trained is None and "no noise model" in insp.models.info.text()
    assert insp.start() is None
    assert any(level == "error" and "noise model" in m for level, m in notifications)


def test_noise_kind_default_matches_the_core(train_widget):
    from napari_blind_denoise.core.config import NoiseModelConfig

    _select_method(train_widget, "nnet")
    assert train_widget.config().noise_model.kind == NoiseModelConfig().kind


def test_stop_during_noise_maps_keeps_the_denoised_layer(viewer, sample, train_widget, qtbot,
                                                         monkeypatch, tmp_path):
    import time as _time

    from napari_blind_denoise.core.methods import nnet

    real = nnet.predict_noise_std

    def slow(*args, **kwargs):  # the real generator, slowed so Stop lands inside it
        gen = real(*args, **kwargs)
        while True:
            _time.sleep(0.2)
            try:
                yield next(gen)
            except StopIteration as done:
                return done.value

    monkeypatch.setattr(nnet, "predict_noise_std", slow)
    _select_method(train_widget, "nnet")
    train_widget.layer_picker.select(sample[0])
    train_widget.steps.setValue(3)
    train_widget.start_training()
    qtbot.waitUntil(lambda: train_widget._phase == "output", timeout=60_000)
    train_widget.stop()
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=60_000)
    assert "nuclei noisy denoised" in viewer.layers
    assert "nuclei noisy noise std" not in viewer.layers
    assert "nuclei noisy residual" not in viewer.layers
    left = sorted(p.name for p in (tmp_path / "results").iterdir() if p.name != "models")
    assert left == ["nuclei_noisy_nnet.zarr"], f"partial noise stores left behind: {left}"
