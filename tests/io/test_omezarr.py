"""OME-Zarr images: written with their pyramid, scale and provenance, read back lazily."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import zarr

pytest.importorskip("ome_zarr_models", reason="OME-Zarr needs the [ome] extra (ome-zarr-models)")

from napari_blind_denoise.core.atomic import ForeignDataError
from napari_blind_denoise.core.errors import InputError
from napari_blind_denoise.io.images import (
    input_spacing,
    is_our_zarr,
    open_output,
    read_image,
    write_image,
)
from napari_blind_denoise.io.omezarr import (
    check_ome_axes,
    is_ome_zarr,
    level_shapes,
    read_ome_zarr,
    write_ome_zarr,
)

SPACING = {"Z": (2.5, "micrometer"), "Y": (0.25, "micrometer"), "X": (0.25, "micrometer")}


def ramp(shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(0).random(shape).astype(np.float32)


def test_write_then_read_keeps_data_scale_units_and_provenance(tmp_path: Path) -> None:
    data = ramp((3, 80, 70))
    out = write_ome_zarr(tmp_path / "a.ome.zarr", data, "ZYX", spacing=SPACING,
                         translation=(0.0, 5.0, 1.0), name="cells",
                         attrs={"method": "n2v", "config": {"steps": 3}}, owned=is_our_zarr)
    assert is_ome_zarr(out) and is_our_zarr(out)
    ome = read_ome_zarr(out)
    assert isinstance(ome.level0, zarr.Array)  # lazy, not loaded
    np.testing.assert_array_equal(ome.level0[...], data)
    assert ome.axes == "ZYX" and ome.axis_names == ("z", "y", "x")
    assert ome.scale == (2.5, 0.25, 0.25)
    assert ome.translation == (0.0, 5.0, 1.0)
    assert ome.units == ("micrometer",) * 3
    assert ome.name == "cells"
    assert ome.attrs == {"method": "n2v", "config": {"steps": 3}}
    assert [p.name for p in tmp_path.iterdir()] == ["a.ome.zarr"]  # no temporary left


def test_pyramid_levels_are_2x2_means_with_doubled_scale(tmp_path: Path) -> None:
    data = ramp((2, 130, 67))
    out = write_ome_zarr(tmp_path / "p.ome.zarr", data, "TYX", owned=is_our_zarr)
    group = zarr.open_group(str(out), mode="r")
    shapes = [group[k].shape for k in sorted(group.array_keys())]
    assert shapes == level_shapes(data.shape) == [(2, 130, 67), (2, 65, 34)]
    expected = data[:, :2, :2].reshape(2, 1, 2, 1, 2).mean(axis=(2, 4))[:, 0, 0]
    np.testing.assert_allclose(group["1"][:, 0, 0], expected, rtol=1e-6)
    # odd X: the last column is averaged with itself
    np.testing.assert_allclose(group["1"][0, 0, -1], data[0, :2, -1].mean(), rtol=1e-6)
    ms = group.attrs["ome"]["multiscales"][0]
    assert [d["coordinateTransformations"][0]["scale"] for d in ms["datasets"]] == [
        [1.0, 1.0, 1.0], [1.0, 2.0, 2.0]]
    assert [a["type"] for a in ms["axes"]] == ["time", "space", "space"]


def test_level_shapes_stop_at_min_edge_and_max_levels() -> None:
    assert level_shapes((40, 40)) == [(40, 40)]
    assert level_shapes((64, 64)) == [(64, 64), (32, 32)]
    assert level_shapes((1, 4096, 4096)) == [(1, 4096 // 2**k, 4096 // 2**k) for k in range(5)]


def test_chunks_are_planes_of_at_most_256(tmp_path: Path) -> None:
    out = write_ome_zarr(tmp_path / "c.ome.zarr", ramp((2, 300, 100)), "ZYX", owned=is_our_zarr)
    group = zarr.open_group(str(out), mode="r")
    assert group["0"].chunks == (1, 256, 100) and group["1"].chunks == (1, 150, 50)
    assert group["0"].compressors  # compressed, as zarr creates arrays by default


def test_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    foreign = tmp_path / "theirs.ome.zarr"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ForeignDataError):
        write_ome_zarr(foreign, ramp((64, 64)), "YX", owned=is_our_zarr)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.ome.zarr"]


def test_replaces_its_own_output(tmp_path: Path) -> None:
    path = tmp_path / "ours.ome.zarr"
    write_ome_zarr(path, ramp((64, 64)), "YX", owned=is_our_zarr)
    second = np.ones((64, 64), np.float32)
    write_ome_zarr(path, second, "YX", owned=is_our_zarr)
    np.testing.assert_array_equal(read_ome_zarr(path).level0[...], second)


@pytest.mark.parametrize("axes", ["ZCYX", "SYX", "YXZ", "X"])
def test_axes_ome_cannot_hold_are_refused(axes: str) -> None:
    with pytest.raises(InputError, match="OME-Zarr"):
        check_ome_axes(axes)


@pytest.mark.parametrize("axes", ["YX", "ZYX", "CYX", "TCZYX", "TZYX"])
def test_ome_axes_accepted(axes: str) -> None:
    check_ome_axes(axes)


def test_read_image_gives_level0_lazily_and_input_spacing(tmp_path: Path) -> None:
    data = ramp((2, 64, 64))
    path = write_ome_zarr(tmp_path / "in.ome.zarr", data, "CYX", spacing=SPACING,
                          owned=is_our_zarr)
    arr, axes = read_image(path)
    assert isinstance(arr, zarr.Array) and not isinstance(arr, np.ndarray)
    assert axes == "CYX" and arr.shape == data.shape
    spacing = input_spacing(path)
    assert spacing["Y"] == (0.25, "micrometer") and spacing["C"] == (1.0, None)
    assert input_spacing(tmp_path / "x.tif") == {}


def test_open_output_streams_level0_and_builds_the_pyramid_on_commit(tmp_path: Path) -> None:
    out = open_output(tmp_path / "o.ome.zarr", (1, 96, 64), "ZYX", attrs={"role": "denoised"},
                      spacing=SPACING)
    assert not (tmp_path / "o.ome.zarr").exists()  # a temporary sibling until commit
    out.array[0, :48] = 1.0
    out.array[0, 48:] = 3.0
    path = out.commit()
    group = zarr.open_group(str(path), mode="r")
    assert sorted(group.array_keys()) == ["0", "1"]
    assert float(group["1"][0, 0, 0]) == 1.0 and float(group["1"][0, -1, 0]) == 3.0
    ome = read_ome_zarr(path)
    assert ome.scale == (2.5, 0.25, 0.25) and ome.attrs == {"role": "denoised"}
    assert [p.name for p in tmp_path.iterdir()] == ["o.ome.zarr"]


def test_write_image_dispatches_ome_suffix(tmp_path: Path) -> None:
    path = write_image(tmp_path / "w.ome.zarr", ramp((64, 64)), "YX",
                       spacing={"Y": (0.5, None), "X": (0.5, None)})
    assert read_ome_zarr(path).scale == (0.5, 0.5)
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["attributes"]["ome"]["version"] == "0.5"


def test_reads_ngff_04(tmp_path: Path) -> None:
    """An NGFF 0.4 image (zarr v2), written here with ome-zarr-models' own 0.4 model."""
    from ome_zarr_models.v04.axes import Axis
    from ome_zarr_models.v04.image import Image
    from pydantic_zarr.v2 import ArraySpec

    Image.model_rebuild()
    data = ramp((4, 32, 48))
    image = Image.new(array_specs=[ArraySpec.from_array(data, chunks=(1, 32, 48))], paths=["0"],
                      axes=[Axis(name=n, type="space", unit="micrometer") for n in "zyx"],
                      scales=[[3.0, 0.5, 0.5]], translations=[None], name="old")
    path = tmp_path / "old.zarr"
    group = image.to_zarr(zarr.storage.LocalStore(str(path)), path="")
    group["0"][...] = data
    ome = read_ome_zarr(path)
    assert ome.axes == "ZYX" and ome.scale == (3.0, 0.5, 0.5) and ome.attrs == {}
    np.testing.assert_array_equal(ome.level0[...], data)
    assert not is_our_zarr(path)
