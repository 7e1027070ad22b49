"""Denoise (train) dock with a method trained on pairs: the second picker is the method's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_noisy
from tests.gui.conftest import run_job

pytestmark = pytest.mark.gui


def _choose(widget, method_id: str) -> None:
    widget.method.setCurrentIndex(widget.method.findData(method_id))


def _pair_row(widget, name: str = "pair"):
    label, picker = widget.extra_inputs[name]
    assert label.isHidden() == picker.isHidden()
    return label, picker


def test_second_picker_shown_for_n2n_only(viewer, train_widget):
    label, picker = _pair_row(train_widget)
    assert label.text() == "Second acquisition"
    for method_id in ("n2v", "n2s", "nnet", "s2s", "classical", "bsn"):
        _choose(train_widget, method_id)
        assert picker.isHidden(), method_id
    _choose(train_widget, "n2n")
    assert not picker.isHidden() and picker.isVisible()
    _choose(train_widget, "n2v")
    assert picker.isHidden()


def test_the_picker_is_declared_by_the_method(viewer, tmp_path):
    """A method registered at run time with an input of its own gets its own picker."""
    from napari_blind_denoise.core import ExtraInput, register, unregister
    from tests.core.methods.test_new_method import PairedTest

    class Flatfield(PairedTest):
        id = "flat-test"
        extra_inputs = (ExtraInput("flat", "Flat field (test)", "a flat-field image"),)

    register(Flatfield())
    try:
        _, widget = viewer.window.add_plugin_dock_widget("napari-blind-denoise",
                                                         "Denoise (train)")
        label, picker = _pair_row(widget, "flat")
        assert label.text() == "Flat field (test)" and picker.isHidden()
        _choose(widget, "flat-test")
        assert not picker.isHidden() and _pair_row(widget, "pair")[1].isHidden()
    finally:
        unregister("flat-test")


def test_n2n_trains_on_two_layers(viewer, train_widget, qtbot, notifications):
    noisy, clean = make_noisy((96, 96), seed=3)
    other = (clean + np.random.default_rng(77).normal(0, 30.0, clean.shape)).astype(np.float32)
    a = viewer.add_image(noisy, name="acq A")
    b = viewer.add_image(other, name="acq B")
    viewer.add_image(noisy[:64], name="small")
    _choose(train_widget, "n2n")
    train_widget.layer_picker.select(a)
    picker = _pair_row(train_widget)[1]
    picker.select(a)
    assert train_widget.start_training() is None
    assert "pick the second acquisition: a layer other than 'acq A'" in (
        train_widget.status.text())
    picker.select(viewer.layers["small"])
    assert train_widget.start_training() is None
    assert "differ in shape" in train_widget.status.text()
    picker.select(b)
    train_widget.steps.setValue(10)
    run_job(qtbot, train_widget, train_widget.start_training)
    out = viewer.layers["acq A denoised"]
    meta = out.metadata["napari_blind_denoise"]
    assert meta["config"]["method"] == "n2n" and meta["pair"] == "acq B"
    assert out.data.shape == noisy.shape
    assert not [m for level, m in notifications if level == "error" and "Cannot" not in m]


def test_n2n_pairs_neighbouring_frames_of_a_time_lapse(viewer, train_widget, qtbot):
    _, clean = make_noisy((64, 64), seed=5)
    rng = np.random.default_rng(9)
    movie = viewer.add_image((clean + rng.normal(0, 30.0, (3, 64, 64))).astype(np.float32),
                             name="movie")
    still = viewer.add_image(clean, name="still")
    _choose(train_widget, "n2v")
    assert train_widget.pairs_from.isHidden()
    _choose(train_widget, "n2n")
    assert not train_widget.pairs_from.isHidden()
    train_widget.pairs_from.setChecked(True)
    assert not _pair_row(train_widget)[1].isEnabled()  # no second layer needed
    train_widget.layer_picker.select(still)
    assert train_widget.start_training() is None
    assert "no T axis" in train_widget.status.text()
    train_widget.layer_picker.select(movie)
    train_widget.axes.setText("TYX")
    train_widget.steps.setValue(5)
    run_job(qtbot, train_widget, train_widget.start_training)
    out = viewer.layers["movie denoised"]
    assert out.data.shape == (3, 64, 64)  # every frame, not the 2 pairs
    assert out.metadata["napari_blind_denoise"]["pairs_from"] == "T"
