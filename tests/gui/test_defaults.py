"""A new user's first click: what the widgets choose before anyone chooses anything."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import to_hex

from napari_blind_denoise.gui._layers import add_result_layer
from tests.gui.conftest import PLUGIN

pytestmark = pytest.mark.gui


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]


def _denoised(viewer, source, name):
    """A result layer as the widgets add it (our provenance, role ``denoised``)."""
    return add_result_layer(viewer, np.asarray(source.data, np.float32), source, name,
                            {"source": source.name, "role": "denoised"})


def test_sample_adds_its_reference_hidden_and_not_selected(viewer, sample):
    noisy, clean = sample
    assert clean.visible is False
    assert clean not in viewer.layers.selection
    assert viewer.layers.selection.active is noisy


@pytest.mark.parametrize("dock", ["Denoise (train)", "Denoise (apply model)", "Noise inspector"])
def test_input_pickers_skip_the_reference_of_the_sample(viewer, sample, dock):
    """The sample's reference is listed first; opening a widget must not pick it."""
    widget = _dock(viewer, dock)
    picker = widget.noisy_picker if dock == "Noise inspector" else widget.layer_picker
    assert picker.currentText() == "nuclei noisy"


def test_picker_opened_before_the_sample_takes_the_noisy_layer(viewer):
    widget = _dock(viewer, "Denoise (train)")
    viewer.open_sample(PLUGIN, "noisy_nuclei")
    assert widget.layer_picker.currentText() == "nuclei noisy"


@pytest.mark.parametrize("ref_name", ["clean", "Ground Truth", "cells_GT", "reference"])
def test_reference_names_are_skipped_even_when_first_and_selected(viewer, ref_name):
    rng = np.random.default_rng(0)
    ref = viewer.add_image(rng.random((64, 64), np.float32), name=ref_name)
    viewer.add_image(rng.random((64, 64), np.float32), name="raw")
    viewer.add_image(rng.random((64, 64), np.float32), name="cells_gtx")  # not a reference
    viewer.layers.selection.active = ref
    widget = _dock(viewer, "Denoise (train)")
    assert widget.layer_picker.currentText() == "cells_gtx"


def test_picker_prefers_the_selected_layer_then_the_newest(viewer):
    rng = np.random.default_rng(0)
    a = viewer.add_image(rng.random((64, 64), np.float32), name="a")
    viewer.add_image(rng.random((64, 64), np.float32), name="b")
    viewer.layers.selection.active = a
    widget = _dock(viewer, "Denoise (train)")
    assert widget.layer_picker.currentText() == "a"
    viewer.layers.selection.clear()
    widget.layer_picker.refresh()
    assert widget.layer_picker.currentText() == "a"  # an automatic choice is kept
    apply = _dock(viewer, "Denoise (apply model)")
    assert apply.layer_picker.currentText() == "b"  # nothing selected: the newest


def test_a_result_layer_does_not_steal_the_input_choice(viewer, sample):
    noisy, _ = sample
    widget = _dock(viewer, "Denoise (train)")
    _denoised(viewer, noisy, "nuclei noisy denoised")  # added and selected, as after training
    assert widget.layer_picker.currentText() == "nuclei noisy"


def test_a_users_choice_is_kept_when_layers_change(viewer, sample):
    _, clean = sample
    widget = _dock(viewer, "Denoise (train)")
    widget.layer_picker.select(clean)  # the user may denoise the reference on purpose
    viewer.add_image(np.zeros((64, 64), np.float32) + 1, name="later")
    assert widget.layer_picker.currentText() == "nuclei clean (reference)"


def test_compare_preselects_the_newest_result_and_a_reference(viewer, sample):
    noisy, _ = sample
    _denoised(viewer, noisy, "first result")
    _denoised(viewer, noisy, "second result")
    viewer.layers.selection.active = noisy
    widget = _dock(viewer, "Compare to ground truth")
    assert widget.result_picker.currentText() == "second result"
    assert widget.reference_picker.currentText() == "nuclei clean (reference)"


def test_compare_never_offers_one_layer_for_both(viewer, sample):
    widget = _dock(viewer, "Compare to ground truth")
    assert widget.result_picker.currentText() == "nuclei noisy"
    assert widget.reference_picker.currentText() == "nuclei clean (reference)"
    other = _dock(viewer, "Compare to ground truth")
    viewer.layers.remove("nuclei clean (reference)")
    assert other.result_picker.currentText() == "nuclei noisy"
    assert other.reference_picker.currentText() == ""  # nothing else: no reference yet


def _plot_colours(canvas) -> tuple[str, str]:
    fig = canvas.figure
    return to_hex(fig.get_facecolor()), to_hex(fig.axes[0].get_facecolor())


def _hint(canvas) -> str:
    texts = [t for t in canvas.figure.axes[0].texts if t.get_visible() and t.get_text()]
    return " ".join(t.get_text() for t in texts)


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_empty_plots_follow_the_theme_and_say_what_to_do(viewer, theme):
    from napari.utils.theme import get_theme

    viewer.theme = theme
    colours = get_theme(theme)
    background = colours.background.as_hex()
    train = _dock(viewer, "Denoise (train)")
    inspector = _dock(viewer, "Noise inspector")
    canvases = (train.loss_plot, train.noise_plot, inspector.density_canvas,
                inspector.curve_canvas, inspector.acf_canvas)
    for canvas in canvases:
        assert _plot_colours(canvas) == (background, background), canvas
        assert _hint(canvas), f"{type(canvas).__name__}: an empty plot says nothing"
        tick = canvas.figure.axes[0].xaxis.get_ticklabels()[0]
        assert to_hex(tick.get_color()) == colours.text.as_hex()


def test_plots_follow_a_theme_change(viewer):
    from napari.utils.theme import get_theme

    viewer.theme = "dark"
    train = _dock(viewer, "Denoise (train)")
    inspector = _dock(viewer, "Noise inspector")
    viewer.theme = "light"
    light = get_theme("light").background.as_hex()
    for canvas in (train.loss_plot, inspector.curve_canvas):
        assert _plot_colours(canvas) == (light, light)


def test_the_hint_goes_when_the_loss_plot_has_points(viewer):
    from napari_blind_denoise.core import TrainEvent

    train = _dock(viewer, "Denoise (train)")
    assert _hint(train.loss_plot)
    train.loss_plot.add(TrainEvent(step=2, n_steps=2, loss=0.5, val_loss=None,
                                         best_val_loss=None, lr=1e-3, elapsed=0.1,
                                         time_budget=None, patches_per_s=1.0))
    assert _hint(train.loss_plot) == ""
    train.loss_plot.clear_data()
    assert _hint(train.loss_plot)
