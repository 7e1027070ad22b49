"""TYX, CYX and TCZYX round trips keep shape, axes, the dtype policy and the scale.

Each layout, as uint16 and as float32, goes through

- the command line: ``blind-denoise denoise`` of an OME-Zarr input with a pixel size to an
  OME-Zarr output (saving the model), then ``blind-denoise predict`` of the same input to a
  TIFF;
- the napari train widget, on a layer with a non-unit scale.

The dtype policy (docs/cli.md "OUTPUT", docs/methods.md on tiles; ``NormStats.denormalize``
in core/data/normalize.py): every output is **float32 in the input's intensity units**;
for an integer input it is clipped to that dtype's range (0..65535 for uint16), a float
input is not clipped. The scale: an OME-Zarr output keeps the input's pixel size per axis
(1 for C), a TIFF output carries it in OME-XML (read back by ``io.tiffmeta``), a result
layer is placed at its source layer's scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.io.images import input_spacing, is_our_zarr, read_image
from tests.conftest import make_noisy
from tests.test_cli import FAST, cli, last_json

UM, SECOND = "micrometer", "second"
SPACING = {"T": (5.0, SECOND), "Z": (2.0, UM), "Y": (0.5, UM), "X": (0.25, UM)}
LAYOUTS = {"TYX": (3, 48, 64), "CYX": (2, 48, 64), "TCZYX": (2, 2, 3, 48, 64)}
DTYPES = ("uint16", "float32")
CASES = [pytest.param(axes, dtype, id=f"{axes}-{dtype}") for axes in LAYOUTS for dtype in DTYPES]


def synthetic(axes: str, dtype: str) -> np.ndarray:
    """Noisy blobs of ``LAYOUTS[axes]``; uint16 near 0 (where a clip to 0 can matter)."""
    shape = LAYOUTS[axes]
    planes = [make_noisy(shape[-2:], seed=i, offset=20.0, gain=300.0)[0]
              for i in range(int(np.prod(shape[:-2])))]
    data = np.stack(planes).reshape(shape)
    if dtype == "uint16":
        return np.clip(np.round(data), 0, 65535).astype(np.uint16)
    return data.astype(np.float32)


def expected_scale(axes: str) -> tuple[float, ...]:
    return tuple(SPACING[a][0] if a in SPACING else 1.0 for a in axes)


def check_values(out: np.ndarray, dtype: str) -> None:
    """The dtype policy: float32 in the input's units, clipped to an integer dtype's range."""
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    if np.issubdtype(np.dtype(dtype), np.integer):
        info = np.iinfo(dtype)
        assert info.min <= float(out.min()) and float(out.max()) <= info.max


@pytest.mark.parametrize(("axes", "dtype"), CASES)
def test_cli_round_trip_to_ome_zarr_and_tiff(capsys, tmp_path: Path, axes: str,
                                             dtype: str) -> None:
    pytest.importorskip("ome_zarr_models", reason="OME-Zarr needs the [ome] extra")
    from napari_blind_denoise.io.omezarr import read_ome_zarr, write_ome_zarr

    data = synthetic(axes, dtype)
    spacing = {a: SPACING[a] for a in axes if a in SPACING}
    src = write_ome_zarr(tmp_path / "in.ome.zarr", data, axes, spacing=spacing,
                         owned=is_our_zarr)
    model, ome_out, tif_out = (tmp_path / "model", tmp_path / "out.ome.zarr",
                               tmp_path / "out.tif")
    rc, stdout, err = cli(capsys, "denoise", src, "-o", ome_out, "--method", "n2v",
                          "--steps", 2, "--no-yardstick", "--save-model", model, "--json",
                          "--quiet", *FAST)
    assert rc == 0, err
    summary = last_json(stdout)
    assert summary["axes"] == axes and tuple(summary["shape"]) == data.shape

    ome = read_ome_zarr(ome_out)
    assert ome.axes == axes and ome.level0.shape == data.shape
    assert ome.scale == expected_scale(axes)
    assert ome.units == tuple(SPACING[a][1] if a in SPACING else None for a in axes)
    check_values(np.asarray(ome.level0[...]), dtype)

    rc, _, err = cli(capsys, "predict", src, "--model", model, "-o", tif_out, "--quiet",
                     "--device", "cpu")
    assert rc == 0, err
    out, out_axes = read_image(tif_out)
    assert out_axes == axes and out.shape == data.shape
    check_values(np.asarray(out), dtype)
    assert input_spacing(tif_out) == spacing  # the TIFF keeps the pixel size and units
    np.testing.assert_array_equal(read_ome_zarr(src).level0[...], data)  # input untouched


@pytest.mark.gui
@pytest.mark.parametrize(("axes", "dtype"), CASES)
def test_train_widget_round_trip_keeps_axes_dtype_policy_and_scale(make_napari_viewer, qtbot,
                                                                  tmp_path: Path, axes: str,
                                                                  dtype: str) -> None:
    pytest.importorskip("napari")
    pytest.importorskip("pytestqt")
    import zarr

    from tests.gui.conftest import PLUGIN, run_job

    viewer = make_napari_viewer(show=True)
    data = synthetic(axes, dtype)
    scale = expected_scale(axes)
    layer = viewer.add_image(data, name="raw", scale=scale)
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    widget.output.edit.setText(str(tmp_path / "results"))
    widget.layer_picker.select(layer)
    widget.axes.setText(axes)
    widget.time_limit.setValue(0)
    widget.steps.setValue(2)
    widget.patch_size.setValue(32)
    widget.batch_size.setValue(4)
    run_job(qtbot, widget, widget.start_training)

    out = viewer.layers["raw denoised"]
    assert isinstance(out.data, zarr.Array)
    assert out.data.shape == data.shape
    assert out.metadata["napari_blind_denoise"]["axes"] == axes
    assert tuple(out.scale) == scale
    check_values(np.asarray(out.data[...]), dtype)
    assert widget.trained.axes == axes
