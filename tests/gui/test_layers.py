"""Which layers the widgets accept, and the sample-data menu entry."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.gui._layers import layer_problem

pytestmark = pytest.mark.gui


def test_unsuitable_layers_are_refused_and_not_offered(viewer, train_widget):
    rng = np.random.default_rng(0)
    viewer.add_labels(np.zeros((64, 64), np.uint8), name="labels")
    viewer.add_image(rng.integers(0, 255, (64, 64, 3), np.uint8), name="rgb", rgb=True)
    nan = rng.random((64, 64), np.float32)
    nan[3, 4] = np.nan
    viewer.add_image(nan, name="nan")
    viewer.add_image(rng.random((64, 64), np.float32), name="good")
    problems = {layer.name: layer_problem(layer) for layer in viewer.layers}
    assert "labels layer" in problems["labels"]
    assert "RGB" in problems["rgb"]
    assert "NaN" in problems["nan"]
    assert problems["good"] is None
    offered = [train_widget.layer_picker.itemText(i)
               for i in range(train_widget.layer_picker.count())]
    assert offered == ["good"]


def test_picker_follows_adds_renames_and_removals(viewer, train_widget):
    picker = train_widget.layer_picker
    assert picker.count() == 0 and not train_widget.train_button.isEnabled()
    layer = viewer.add_image(np.zeros((64, 64), np.float32) + 1, name="a")
    assert [picker.itemText(i) for i in range(picker.count())] == ["a"]
    assert train_widget.train_button.isEnabled()
    layer.name = "renamed"
    assert picker.currentText() == "renamed"
    assert train_widget.axes.placeholderText() == "YX"
    viewer.layers.remove(layer)
    assert picker.count() == 0


def test_sample_menu_opens_noisy_and_clean(viewer, sample):
    noisy, clean = sample
    assert noisy.data.shape == clean.data.shape == (512, 512)
    assert noisy.data.dtype == np.uint16
    assert clean.visible is False


@pytest.mark.parametrize(("shape", "dtype", "expected"), [
    ((64,), np.float32, "1-D"),
    ((0, 64), np.float32, "empty"),
    ((64, 64), np.complex64, "unsupported pixel type"),
    ((64, 64), np.uint16, None),
])
def test_layer_problem_dimensions_and_types(shape, dtype, expected):
    from types import SimpleNamespace

    layer = SimpleNamespace(name="x", _type_string="image", rgb=False, multiscale=False,
                            data=np.zeros(shape, dtype))
    problem = layer_problem(layer)
    if expected is None:
        assert problem is None
    else:
        assert expected in problem
