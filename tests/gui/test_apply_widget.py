"""Denoise (apply model) dock: a saved model on a new layer; refusals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import zarr

from napari_blind_denoise.core import default_config, save_model, train
from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.train import run_to_completion
from tests.gui.conftest import psnr_vs, run_job

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small N2V model trained on the sample (about 10 s on 2 cores)."""
    from napari_blind_denoise.sample_data import load_sample

    noisy, _ = load_sample()
    cfg = default_config("n2v", "cpu", steps=120, patch_size=48, batch_size=8)
    cfg = replace(cfg, model=ModelConfig(depth=2, base_channels=8))
    trained = run_to_completion(train(noisy[:256], "YX", cfg))
    return save_model(trained, tmp_path_factory.mktemp("models") / "nuclei-n2v")


def test_apply_to_a_new_stack_layer(viewer, sample, apply_widget, saved_model, qtbot):
    noisy, clean = sample
    stack = np.stack([noisy.data[:, :256], noisy.data[:, 256:]])  # ZYX, never seen in training
    ref = np.stack([clean.data[:, :256], clean.data[:, 256:]])
    layer = viewer.add_image(stack, name="halves", scale=(2.0, 0.3, 0.3))
    apply_widget.add_model_path(saved_model)
    apply_widget.layer_picker.select(layer)
    assert "n2v" in apply_widget.model_info.text()
    run_job(qtbot, apply_widget, apply_widget.start)
    out = viewer.layers["halves denoised"]
    assert isinstance(out.data, zarr.Array)
    assert out.data.shape == stack.shape
    assert tuple(out.scale) == (2.0, 0.3, 0.3)
    assert out.metadata["napari_blind_denoise"]["model_path"] == str(saved_model)
    assert psnr_vs(out.data[:], ref) > psnr_vs(stack, ref) + 3.0


def test_trained_model_is_offered_to_apply(viewer, sample, apply_widget, qtbot, tmp_path):
    _, train_widget = viewer.window.add_plugin_dock_widget("napari-blind-denoise",
                                                           "Denoise (train)")
    train_widget.output.edit.setText(str(tmp_path / "t"))
    train_widget.layer_picker.select(sample[0])
    train_widget.time_limit.setValue(0)
    train_widget.steps.setValue(3)
    run_job(qtbot, train_widget, train_widget.start_training)
    assert apply_widget.model_choice.count() == 1
    assert apply_widget.model_choice.currentData() == str(train_widget.result.model_path)


def test_channel_mismatch_refused(viewer, apply_widget, saved_model, notifications):
    two = np.random.default_rng(0).normal(100, 5, (2, 96, 96)).astype(np.float32)
    layer = viewer.add_image(two, name="two channels")
    apply_widget.add_model_path(saved_model)
    apply_widget.layer_picker.select(layer)
    apply_widget.axes.setText("CYX")
    assert apply_widget.start() is None
    errors = [m for level, m in notifications if level == "error"]
    assert errors and "1 channel" in errors[0] and "has 2" in errors[0]
    assert "two channels denoised" not in viewer.layers


def test_corrupt_model_refused(viewer, sample, apply_widget, tmp_path, notifications):
    bad = tmp_path / "broken-model"
    bad.mkdir()
    (bad / "config.json").write_text("{not json")
    apply_widget.add_model_path(bad)
    assert "Cannot use this model" in apply_widget.model_info.text()
    apply_widget.layer_picker.select(sample[0])
    assert apply_widget.start() is None
    assert any(level == "error" and "Cannot apply" in m for level, m in notifications)


def test_stop_apply_adds_no_layer(viewer, apply_widget, saved_model, qtbot, tmp_path):
    stack = np.random.default_rng(1).normal(100, 5, (8, 256, 256)).astype(np.float32)
    viewer.add_image(stack, name="long stack")
    apply_widget.add_model_path(saved_model)
    apply_widget.layer_picker.select(viewer.layers["long stack"])
    apply_widget.tile_size.setText("64")
    apply_widget.start()
    qtbot.waitUntil(lambda: apply_widget.progress.value() > 0, timeout=30_000)
    apply_widget.stop_button.click()
    qtbot.waitUntil(lambda: not apply_widget.runner.running, timeout=30_000)
    assert "long stack denoised" not in viewer.layers
    assert not list((tmp_path / "applied").glob("*")), "partial stores are removed"


def test_memory_budget_reaches_prediction(viewer, sample, apply_widget, saved_model, qtbot):
    noisy, _ = sample
    layer = viewer.add_image(np.stack([noisy.data[:128, :128]] * 2), name="pair")
    apply_widget.add_model_path(saved_model)
    apply_widget.layer_picker.select(layer)
    assert apply_widget.memory_budget.text() == "auto"
    apply_widget.memory_budget.setValue(1)
    run_job(qtbot, apply_widget, apply_widget.start)
    plan = apply_widget.result.memory
    assert plan.budget_mb == 1 and plan.tile_size < 128 and plan.estimate_mb <= 1
    assert viewer.layers["pair denoised"].data.shape == (2, 128, 128)
