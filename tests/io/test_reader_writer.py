"""The napari reader and writer contributions (io/reader.py, io/writer.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_blind_denoise.core.atomic import ForeignDataError
from napari_blind_denoise.io.images import is_our_zarr, open_output, write_image
from napari_blind_denoise.io.reader import get_reader

needs_ome = pytest.mark.skipif(
    pytest.importorskip("importlib.util").find_spec("ome_zarr_models") is None,
    reason="OME-Zarr needs the [ome] extra (ome-zarr-models)")

PROVENANCE = {"source": "cells", "role": "denoised", "axes": "ZYX",
              "config": {"method": "n2v", "steps": 3}}


def stack(shape=(3, 64, 48)) -> np.ndarray:
    return np.random.default_rng(1).random(shape).astype(np.float32)


# -- paths the reader does not own ----------------------------------------------------------

def test_returns_none_for_foreign_paths(tmp_path: Path) -> None:
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    folder = tmp_path / "folder"
    folder.mkdir()
    png = tmp_path / "image.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    fake_zarr = tmp_path / "fake.zarr"
    fake_zarr.mkdir()
    (fake_zarr / "readme.md").write_text("not zarr")
    for path in (txt, folder, png, fake_zarr, tmp_path / "missing.zarr", tmp_path / "x.tif"):
        assert get_reader(str(path)) is None, path
    assert get_reader([str(txt), str(png)]) is None


def test_returns_none_for_zarr_without_image_or_not_ours(tmp_path: Path) -> None:
    group = tmp_path / "group.zarr"
    zarr.open_group(str(group), mode="w").attrs["something"] = 1
    theirs = tmp_path / "theirs.zarr"
    zarr.open_array(str(theirs), mode="w", shape=(8, 8), dtype="f4")
    assert get_reader(str(group)) is None
    assert get_reader(str(theirs)) is None  # napari's own reader opens plain zarr arrays


# -- what it opens --------------------------------------------------------------------------

@needs_ome
def test_opens_ome_zarr_level0_lazily_with_scale(tmp_path: Path) -> None:
    from napari_blind_denoise.io.omezarr import write_ome_zarr

    data = stack((3, 80, 64))
    path = write_ome_zarr(tmp_path / "cells.ome.zarr", data, "ZYX",
                          spacing={"Z": (2.0, "micrometer"), "Y": (0.5, "micrometer"),
                                   "X": (0.5, "micrometer")},
                          attrs=PROVENANCE, owned=is_our_zarr)
    reader = get_reader(str(path))
    assert reader is not None
    [(arr, kwargs, kind)] = reader(str(path))
    assert kind == "image"
    assert isinstance(arr, zarr.Array) and not isinstance(arr, np.ndarray)
    assert arr.shape == data.shape
    assert kwargs["scale"] == (2.0, 0.5, 0.5)
    assert kwargs["axis_labels"] == ("z", "y", "x")
    assert kwargs["units"] == ("micrometer",) * 3
    assert kwargs["metadata"] == {"napari_blind_denoise": PROVENANCE}
    np.testing.assert_array_equal(arr[1], data[1])


@needs_ome
def test_reader_kwargs_make_a_napari_layer(tmp_path: Path) -> None:
    napari_layers = pytest.importorskip("napari.layers")
    from napari_blind_denoise.io.omezarr import write_ome_zarr

    path = write_ome_zarr(tmp_path / "c.ome.zarr", stack((2, 64, 64)), "CYX",
                          spacing={"Y": (0.3, "micrometer"), "X": (0.3, "micrometer")},
                          owned=is_our_zarr)
    [(arr, kwargs, _)] = get_reader(str(path))(str(path))
    layer = napari_layers.Image(arr, **kwargs)
    assert tuple(layer.scale) == (1.0, 0.3, 0.3)
    assert tuple(layer.axis_labels) == ("c", "y", "x")
    assert str(layer.units[-1]) == "micrometer"


def test_opens_our_plain_zarr_with_axes(tmp_path: Path) -> None:
    out = open_output(tmp_path / "ours.zarr", (2, 32, 32), "TYX", attrs={"role": "denoised"})
    out.array[...] = 1.0
    path = out.commit()
    [(arr, kwargs, _)] = get_reader(str(path))(str(path))
    assert isinstance(arr, zarr.Array) and arr.shape == (2, 32, 32)
    assert kwargs["axis_labels"] == ("T", "Y", "X")
    assert kwargs["metadata"] == {"napari_blind_denoise": {"role": "denoised"}}


def test_opens_tiff_lazily_through_zarr(tmp_path: Path) -> None:
    data = (stack((3, 40, 50)) * 1000).astype(np.uint16)
    path = tmp_path / "big.tif"
    tifffile.imwrite(path, data, metadata={"axes": "ZYX"}, photometric="minisblack")
    [(arr, kwargs, _)] = get_reader(str(path))(str(path))
    assert isinstance(arr, zarr.Array) and arr.shape == data.shape
    np.testing.assert_array_equal(arr[2], data[2])
    assert kwargs["axis_labels"] == ("Z", "Y", "X") and kwargs["name"] == "big"


def test_tiff_pixel_size_from_imagej_and_ome_metadata(tmp_path: Path) -> None:
    data = np.zeros((3, 32, 40), np.uint16)
    ij, ome, plain = tmp_path / "ij.tif", tmp_path / "o.ome.tif", tmp_path / "plain.tif"
    # tifffile's resolution is (X, Y) in pixels per unit
    tifffile.imwrite(ij, data, imagej=True, resolution=(1 / 0.25, 1 / 0.5),
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    tifffile.imwrite(ome, data, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.5, "PhysicalSizeZ": 2.0,
        "PhysicalSizeXUnit": "nm", "PhysicalSizeYUnit": "nm", "PhysicalSizeZUnit": "nm"})
    tifffile.imwrite(plain, data, metadata={"axes": "ZYX"}, photometric="minisblack")
    [(_, kw_ij, _)] = get_reader(str(ij))(str(ij))
    assert kw_ij["scale"] == (2.0, 0.5, 0.25) and kw_ij["units"] == ("micrometer",) * 3
    [(_, kw_ome, _)] = get_reader(str(ome))(str(ome))
    assert kw_ome["scale"] == (2.0, 0.5, 0.25) and kw_ome["units"] == ("nanometer",) * 3
    [(_, kw_plain, _)] = get_reader(str(plain))(str(plain))
    assert "scale" not in kw_plain and "units" not in kw_plain


# -- the writer -----------------------------------------------------------------------------

@needs_ome
def test_writer_round_trip_keeps_data_scale_and_provenance(tmp_path: Path) -> None:
    from napari_blind_denoise.io.writer import write_layer

    data = stack((3, 64, 48))
    meta = {"name": "cells denoised", "scale": [2.0, 0.5, 0.5], "translate": [0, 10, 0],
            "units": ["micrometer"] * 3, "axis_labels": ["-3", "-2", "-1"],
            "metadata": {"napari_blind_denoise": {**PROVENANCE, "path": tmp_path},
                         "other_plugin": object()}}
    target = tmp_path / "saved.ome.zarr"
    assert write_layer(str(target), data, meta) == [str(target)]
    [(arr, kwargs, _)] = get_reader(str(target))(str(target))
    np.testing.assert_array_equal(arr[...], data)
    assert kwargs["scale"] == (2.0, 0.5, 0.5) and kwargs["translate"] == (0.0, 10.0, 0.0)
    assert kwargs["name"] == "cells denoised"
    # our provenance is kept (as JSON values), other plugins' metadata is not written
    assert kwargs["metadata"] == {"napari_blind_denoise": {**PROVENANCE, "path": str(tmp_path)}}
    assert kwargs["axis_labels"] == ("z", "y", "x")  # from the provenance's axes


@needs_ome
def test_writer_takes_level0_of_a_multiscale_layer_and_guesses_axes(tmp_path: Path) -> None:
    from napari_blind_denoise.io.writer import write_layer

    levels = [stack((64, 64)), stack((32, 32))]
    target = tmp_path / "m.ome.zarr"
    write_layer(str(target), levels, {"multiscale": True, "scale": [1.0, 1.0]})
    [(arr, kwargs, _)] = get_reader(str(target))(str(target))
    np.testing.assert_array_equal(arr[...], levels[0])
    assert kwargs["axis_labels"] == ("y", "x") and "units" not in kwargs


@needs_ome
def test_writer_refuses_to_replace_a_foreign_folder(tmp_path: Path) -> None:
    from napari_blind_denoise.io.writer import write_layer

    foreign = tmp_path / "theirs.ome.zarr"
    zarr.open_array(str(foreign), mode="w", shape=(4, 4), dtype="f4")[...] = 7.0
    before = sorted(p.relative_to(foreign) for p in foreign.rglob("*"))
    with pytest.raises(ForeignDataError, match="did not write"):
        write_layer(str(foreign), stack((64, 64)), {"scale": [1.0, 1.0]})
    assert sorted(p.relative_to(foreign) for p in foreign.rglob("*")) == before
    assert float(zarr.open_array(str(foreign), mode="r")[0, 0]) == 7.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.ome.zarr"]


@needs_ome
def test_writer_replaces_its_own_earlier_save(tmp_path: Path) -> None:
    from napari_blind_denoise.io.writer import write_layer

    target = tmp_path / "again.ome.zarr"
    write_image(target, stack((64, 64)), "YX")
    write_layer(str(target), np.zeros((64, 64), np.float32), {"scale": [1.0, 1.0]})
    [(arr, _, _)] = get_reader(str(target))(str(target))
    assert float(np.abs(arr[...]).max()) == 0.0


@needs_ome
def test_napari_saves_through_the_contribution(tmp_path: Path) -> None:
    napari_layers = pytest.importorskip("napari.layers")
    npe2 = pytest.importorskip("npe2")
    npe2.PluginManager.instance().discover()  # what napari does when it starts
    layer = napari_layers.Image(stack((64, 64)), name="img", scale=(0.4, 0.4),
                                metadata={"napari_blind_denoise": {"role": "denoised"}})
    target = tmp_path / "via_napari.ome.zarr"
    written = layer.save(str(target), plugin="napari-blind-denoise")
    assert [Path(p) for p in written] == [target]
    [(arr, kwargs, _)] = get_reader(str(target))(str(target))
    np.testing.assert_array_equal(arr[...], layer.data)
    assert kwargs["scale"] == (0.4, 0.4)
    assert kwargs["metadata"] == {"napari_blind_denoise": {"role": "denoised"}}


@needs_ome
def test_napari_opens_through_the_contribution(tmp_path: Path) -> None:
    components = pytest.importorskip("napari.components")
    npe2 = pytest.importorskip("npe2")
    npe2.PluginManager.instance().discover()
    from napari_blind_denoise.io.omezarr import write_ome_zarr

    path = write_ome_zarr(tmp_path / "open.ome.zarr", stack((2, 64, 64)), "ZYX",
                          spacing={"Z": (3.0, None)}, owned=is_our_zarr)
    viewer = components.ViewerModel()
    [layer] = viewer.open(str(path), plugin="napari-blind-denoise")
    assert tuple(layer.scale) == (3.0, 1.0, 1.0)
    assert isinstance(layer.data, zarr.Array) and layer.data.shape == (2, 64, 64)
    assert not layer.multiscale
