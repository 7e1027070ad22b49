"""Multiscale image layers: both widgets denoise level 0 lazily, at the layer's scale."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import zarr

from napari_blind_denoise.core import save_model, train
from napari_blind_denoise.core.train import run_to_completion
from napari_blind_denoise.gui._layers import layer_data, layer_problem
from tests.conftest import make_noisy, tiny_config
from tests.core.test_memory import Guarded
from tests.gui.conftest import run_job

pytestmark = pytest.mark.gui

SHAPE = (3, 96, 128)  # ZYX level 0; level 1 is 2x smaller in Y and X
PLANE = SHAPE[1] * SHAPE[2]
SCALE = (2.0, 0.25, 0.25)


class LayerGuarded(Guarded):
    """:class:`Guarded` for the denoising job's reads (the worker thread's), with what
    napari asks of layer data besides (``size``). napari's own reads (GUI thread) pass
    through unchecked: to draw one plane of a multiscale zarr level it reads every plane
    of the visible region (napari 0.9 slices the displayed axes, then projects)."""

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __getitem__(self, index):
        if threading.current_thread() is threading.main_thread():
            return self.array[index]
        return super().__getitem__(index)


def _level0(path) -> zarr.Array:
    data = np.stack([make_noisy(SHAPE[1:], seed=s)[0] for s in range(SHAPE[0])])
    z = zarr.open_array(str(path), mode="w", shape=SHAPE, chunks=(1, 48, 64), dtype="uint16")
    z[...] = np.clip(data, 0, None).astype(np.uint16)
    return zarr.open_array(str(path), mode="r")


def _multiscale(viewer, level0, name: str):
    """A two-level layer: ``level0`` (read only through a wrapper refusing reads of more
    than one plane, or a whole conversion) and a 2x-downsampled numpy level 1."""
    guarded = LayerGuarded(level0, limit=PLANE)
    level1 = np.asarray(level0[:, ::2, ::2])
    layer = viewer.add_image([guarded, level1], name=name, multiscale=True, scale=SCALE,
                             contrast_limits=(0, 600))
    assert layer.multiscale and layer_data(layer) is guarded
    return layer, guarded


def test_train_widget_denoises_level_0_of_a_multiscale_layer(viewer, train_widget, qtbot,
                                                            tmp_path):
    level0 = _level0(tmp_path / "in.zarr")
    before = level0[...]
    layer, guarded = _multiscale(viewer, level0, "pyramid")
    assert layer_problem(layer) is None
    train_widget.layer_picker.select(layer)
    assert train_widget.layer_picker.layer() is layer
    assert train_widget.axes.placeholderText() == "ZYX"
    train_widget.steps.setValue(5)
    run_job(qtbot, train_widget, train_widget.start_training)

    out = viewer.layers["pyramid denoised"]
    assert isinstance(out.data, zarr.Array) and not out.multiscale
    assert out.data.shape == SHAPE
    assert tuple(out.scale) == SCALE
    assert out.metadata["napari_blind_denoise"]["axes"] == "ZYX"
    assert np.isfinite(out.data[...]).all()
    assert train_widget.trained.axes == "ZYX"
    # read window by window: never more than one plane at once, never converted whole
    assert 0 < guarded.largest <= PLANE
    # the input layer and its store are untouched
    assert layer.multiscale and len(layer.data) == 2 and layer_data(layer) is guarded
    assert np.array_equal(zarr.open_array(str(tmp_path / "in.zarr"), mode="r")[...], before)


def test_apply_widget_predicts_level_0_of_a_dask_multiscale_layer(viewer, apply_widget, qtbot,
                                                                 tmp_path):
    da = pytest.importorskip("dask.array")
    image = make_noisy((64, 64), seed=9)[0]
    trained = run_to_completion(train(image, "YX", tiny_config(steps=4), device="cpu"))
    model = save_model(trained, tmp_path / "models" / "tiny")
    level0 = da.from_zarr(_level0(tmp_path / "in.zarr"))
    layer, guarded = _multiscale(viewer, level0, "dask pyramid")
    apply_widget.add_model_path(model)
    apply_widget.layer_picker.select(layer)
    run_job(qtbot, apply_widget, apply_widget.start)

    out = viewer.layers["dask pyramid denoised"]
    assert isinstance(out.data, zarr.Array) and not out.multiscale
    assert out.data.shape == SHAPE
    assert tuple(out.scale) == SCALE
    assert out.metadata["napari_blind_denoise"]["axes"] == "ZYX"
    assert np.isfinite(out.data[...]).all()
    assert 0 < guarded.largest <= PLANE
    assert layer.multiscale and layer_data(layer) is guarded
