"""The train widget's Channels choice (Advanced): it reaches the configuration, and one model
per channel trains, denoises every channel and saves from the widget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from napari_blind_denoise.core import DEFAULT_CHANNELS, ChannelModels, TrainedModel, load_model
from napari_blind_denoise.gui._models import describe_model

from .conftest import run_job


def two_channel_layer(viewer):
    rng = np.random.default_rng(3)
    data = np.stack([rng.normal(100, 5, (96, 96)), rng.normal(40, 2, (96, 96))])
    return viewer.add_image(data.astype(np.float32), name="two channels")


def test_the_default_is_the_documented_one(train_widget):
    assert train_widget.channels.currentData() == DEFAULT_CHANNELS
    assert train_widget.config().model.channels == DEFAULT_CHANNELS


@pytest.mark.parametrize("mode", ["joint", "separate"])
def test_the_choice_reaches_the_config(train_widget, mode):
    train_widget.channels.setCurrentIndex(train_widget.channels.findData(mode))
    for method in ("n2v", "nnet", "s2s"):  # every method has the choice
        train_widget.method.setCurrentIndex(train_widget.method.findData(method))
        assert train_widget.config().model.channels == mode


def test_one_model_per_channel_from_the_widget(viewer, train_widget, qtbot, tmp_path):
    layer = two_channel_layer(viewer)
    train_widget.layer_picker.select(layer)
    train_widget.axes.setText("CYX")
    train_widget.steps.setValue(4)
    train_widget.channels.setCurrentIndex(train_widget.channels.findData("separate"))
    run_job(qtbot, train_widget, train_widget.start_training)
    trained = train_widget.trained
    assert isinstance(trained, ChannelModels) and trained.channels == 2
    assert [m.info["steps"] for m in trained.models] == [2, 2]  # the steps are shared
    assert "(one per channel)" in train_widget.status.text()
    out = viewer.layers["two channels denoised"]
    assert out.data.shape == (2, 96, 96) and np.isfinite(np.asarray(out.data)).all()
    back = load_model(train_widget.save_model_to(tmp_path / "model"))
    assert isinstance(back, ChannelModels)
    assert "one model per channel" in describe_model(back)


def test_one_model_for_all_channels_from_the_widget(viewer, train_widget, qtbot):
    layer = two_channel_layer(viewer)
    train_widget.layer_picker.select(layer)
    train_widget.axes.setText("CYX")
    train_widget.steps.setValue(2)
    train_widget.channels.setCurrentIndex(train_widget.channels.findData("joint"))
    run_job(qtbot, train_widget, train_widget.start_training)
    assert isinstance(train_widget.trained, TrainedModel)
    assert train_widget.trained.channels == 2


def test_the_apply_widget_uses_one_model_per_channel(viewer, apply_widget, qtbot, tmp_path):
    from napari_blind_denoise.core import run_to_completion, save_model, train
    from tests.conftest import tiny_config

    layer = two_channel_layer(viewer)
    cfg = tiny_config("n2v", steps=4)
    cfg = replace(cfg, model=replace(cfg.model, channels="separate"))
    trained = run_to_completion(train(layer.data, "CYX", cfg, device="cpu"))
    apply_widget.add_model_path(save_model(trained, tmp_path / "per-channel"))
    apply_widget.layer_picker.select(layer)
    apply_widget.axes.setText("CYX")
    assert "one model per channel" in apply_widget.model_info.text()
    run_job(qtbot, apply_widget, apply_widget.start)
    out = np.asarray(viewer.layers["two channels denoised"].data)
    assert out.shape == (2, 96, 96) and np.isfinite(out).all()
    # in the image's channel order: channel 0 about 100, channel 1 about 40
    assert float(out[0].mean()) > float(out[1].mean()) + 30.0
