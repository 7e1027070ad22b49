"""Reading inputs and writing outputs atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_blind_denoise.core import InputError
from napari_blind_denoise.io import (
    OutputArray,
    is_zarr_path,
    open_output,
    read_image,
    write_image,
)
from napari_blind_denoise.io.images import ATTR_KEY, check_output_path


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def hidden(folder: Path) -> list[str]:
    return [n for n in names(folder) if n.startswith(".")]


@pytest.fixture
def data(rng: np.random.Generator) -> np.ndarray:
    return rng.normal(100, 10, (24, 32)).astype(np.float32)


# -- reading -------------------------------------------------------------------------------

@pytest.mark.parametrize(("axes", "shape"), [("YX", (16, 20)), ("CYX", (2, 16, 20)),
                                             ("ZYX", (5, 16, 20)), ("TZYX", (2, 3, 16, 20)),
                                             ("TCZYX", (2, 2, 3, 16, 20))])
def test_read_tiff_axes_metadata(tmp_path: Path, axes: str, shape: tuple[int, ...]) -> None:
    arr = np.arange(np.prod(shape), dtype=np.uint16).reshape(shape)
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, arr, metadata={"axes": axes}, photometric="minisblack")
    out, got = read_image(path)
    assert got == axes
    np.testing.assert_array_equal(out, arr)


def test_read_imagej_hyperstack(tmp_path: Path) -> None:
    arr = np.zeros((3, 2, 16, 20), np.uint16)  # Z C Y X
    arr[:, 1] = 7
    tifffile.imwrite(tmp_path / "ij.tif", arr, imagej=True, metadata={"axes": "ZCYX"})
    out, axes = read_image(tmp_path / "ij.tif")
    assert axes == "ZCYX"
    np.testing.assert_array_equal(out, arr)


def test_read_tiff_without_axes(tmp_path: Path) -> None:
    arr = np.zeros((5, 16, 20), np.float32)
    tifffile.imwrite(tmp_path / "plain.tif", arr, metadata=None, photometric="minisblack")
    out, axes = read_image(tmp_path / "plain.tif")
    assert out.shape == arr.shape
    assert axes is None  # no usable metadata: the caller guesses


def test_exception_rgb_tiff(tmp_path: Path) -> None:
    rgb = np.zeros((32, 32, 3), np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    with pytest.raises(InputError, match="RGB"):
        read_image(tmp_path / "rgb.tif")


def test_read_zarr(tmp_path: Path) -> None:
    path = tmp_path / "in.zarr"
    z = zarr.open_array(store=str(path), mode="w", shape=(3, 16, 20), chunks=(1, 16, 20),
                        dtype="uint16")
    z[...] = 5
    z.attrs["axes"] = "ZYX"
    out, axes = read_image(path)
    assert isinstance(out, zarr.Array)  # lazy, not loaded into memory
    assert axes == "ZYX"
    assert np.all(out[...] == 5)


def test_read_zarr_without_axes(tmp_path: Path) -> None:
    path = tmp_path / "in.zarr"
    zarr.open_array(store=str(path), mode="w", shape=(16, 20), dtype="float32")
    out, axes = read_image(path)
    assert axes is None and out.shape == (16, 20)


def test_read_npy_memory_mapped(tmp_path: Path, data: np.ndarray) -> None:
    np.save(tmp_path / "in.npy", data)
    out, axes = read_image(tmp_path / "in.npy")
    assert axes is None
    assert isinstance(out, np.memmap)
    np.testing.assert_array_equal(out, data)


def test_exception_npy_with_pickle(tmp_path: Path) -> None:
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="cannot read"):
        read_image(tmp_path / "obj.npy")


def test_read_png(tmp_path: Path) -> None:
    iio = pytest.importorskip("imageio.v3")
    img = (np.arange(32 * 40) % 251).astype(np.uint8).reshape(32, 40)
    iio.imwrite(tmp_path / "in.png", img)
    out, axes = read_image(tmp_path / "in.png")
    assert axes is None
    np.testing.assert_array_equal(out, img)


def test_exception_missing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        read_image(tmp_path / "missing.tif")


@pytest.mark.parametrize("name", ["in.xyz", "in", "in.czi"])
def test_exception_unsupported_suffix(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"\x00" * 16)
    with pytest.raises(InputError, match="unsupported input format"):
        read_image(tmp_path / name)


@pytest.mark.parametrize("name", ["bad.tif", "bad.png", "bad.npy", "bad.zarr"])
def test_exception_unreadable(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".zarr"):
        path.mkdir()
    else:
        path.write_text("this is not an image\nsecond line\n")
    with pytest.raises(InputError, match="cannot read") as exc:
        read_image(path)
    assert "\n" not in str(exc.value)


def test_read_shared_hela_cyx(shared_data) -> None:
    path = shared_data("fiji_hela_cells_clean", "hela_cells_CYX.tif")
    arr, axes = read_image(path)
    assert axes == "CYX" and arr.shape == (3, 512, 672) and arr.dtype == np.uint16


# -- writing -------------------------------------------------------------------------------

@pytest.mark.parametrize(("axes", "shape"), [("YX", (24, 32)), ("ZYX", (3, 24, 32)),
                                             ("CYX", (2, 24, 32)), ("TZYX", (2, 3, 8, 8))])
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_write_read_round_trip(tmp_path: Path, axes: str, shape: tuple[int, ...],
                               suffix: str) -> None:
    arr = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    path = write_image(tmp_path / f"out{suffix}", arr, axes)
    assert path == tmp_path / f"out{suffix}"
    back, got = read_image(path)
    assert got == axes
    np.testing.assert_array_equal(np.asarray(back), arr)
    assert hidden(tmp_path) == []
    assert names(tmp_path) == [f"out{suffix}"]


@pytest.mark.parametrize(("axes", "shape"), [("CYX", (3, 16, 16)), ("YXC", (16, 16, 3)),
                                             ("ZYX", (3, 16, 16))])
def test_write_multichannel_not_rgb(tmp_path: Path, axes: str,
                                    shape: tuple[int, ...]) -> None:
    write_image(tmp_path / "out.tif", np.zeros(shape, np.float32), axes)
    with tifffile.TiffFile(tmp_path / "out.tif") as tf:
        assert tf.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_write_overwrites_without_leftovers(tmp_path: Path, data: np.ndarray,
                                            suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    write_image(path, data, "YX")
    write_image(path, data * 2, "YX")
    np.testing.assert_array_equal(np.asarray(read_image(path)[0]), data * 2)
    assert names(tmp_path) == [f"out{suffix}"]


def test_write_failure_leaves_nothing(tmp_path: Path, data: np.ndarray, monkeypatch) -> None:
    def boom(*args, **kwargs):
        Path(args[0]).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", boom)
    with pytest.raises(OSError, match="disk full"):
        write_image(tmp_path / "out.tif", data, "YX")
    assert names(tmp_path) == []


def test_write_failure_keeps_previous_file(tmp_path: Path, data: np.ndarray,
                                           monkeypatch) -> None:
    path = write_image(tmp_path / "out.tif", data, "YX")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tifffile, "imwrite", boom)
    with pytest.raises(OSError):
        write_image(path, data * 2, "YX")
    monkeypatch.undo()
    np.testing.assert_array_equal(read_image(path)[0], data)
    assert names(tmp_path) == ["out.tif"]


def test_write_creates_parent(tmp_path: Path, data: np.ndarray) -> None:
    path = write_image(tmp_path / "a" / "b" / "out.tif", data)
    assert path.is_file()


# -- open_output ---------------------------------------------------------------------------

def test_open_output_zarr_commit(tmp_path: Path, data: np.ndarray) -> None:
    path = tmp_path / "out.zarr"
    out = open_output(path, data.shape, "YX", attrs={"method": "n2v"})
    assert isinstance(out, OutputArray)
    assert isinstance(out.array, zarr.Array)
    assert out.array.dtype == np.float32
    assert not path.exists(), "the final name must not exist before commit()"
    assert out.tmp is not None and out.tmp.exists() and out.tmp.name.startswith(".")
    assert out.tmp.parent == tmp_path
    out.array[...] = data
    assert out.commit() == path
    assert names(tmp_path) == ["out.zarr"]
    back, axes = read_image(path)
    assert axes == "YX"
    np.testing.assert_array_equal(back[...], data)
    assert back.attrs[ATTR_KEY] == {"method": "n2v"}
    out.abort()  # after commit: a no-op
    assert path.exists()


def test_open_output_zarr_abort(tmp_path: Path, data: np.ndarray) -> None:
    path = tmp_path / "out.zarr"
    out = open_output(path, data.shape, "YX")
    out.array[...] = data
    out.abort()
    assert names(tmp_path) == []


def test_open_output_zarr_commit_replaces_existing(tmp_path: Path, data: np.ndarray) -> None:
    path = write_image(tmp_path / "out.zarr", data, "YX")
    out = open_output(path, data.shape, "YX")
    out.array[...] = data + 1
    out.commit()
    np.testing.assert_array_equal(read_image(path)[0][...], data + 1)
    assert names(tmp_path) == ["out.zarr"]


def test_open_output_zarr_chunks(tmp_path: Path) -> None:
    out = open_output(tmp_path / "o.zarr", (3, 600, 40), "ZYX")
    assert out.array.chunks == (1, 256, 40)
    out.abort()


def test_open_output_tiff(tmp_path: Path, data: np.ndarray) -> None:
    path = tmp_path / "out.tif"
    out = open_output(path, data.shape, "YX")
    assert isinstance(out.array, np.ndarray) and out.array.dtype == np.float32
    out.array[...] = data
    assert not path.exists()
    out.commit()
    back, axes = read_image(path)
    np.testing.assert_array_equal(back, data)
    assert axes == "YX"
    assert names(tmp_path) == ["out.tif"]


def test_open_output_tiff_abort(tmp_path: Path, data: np.ndarray) -> None:
    out = open_output(tmp_path / "out.tif", data.shape, "YX")
    out.abort()
    assert names(tmp_path) == []


# -- paths ---------------------------------------------------------------------------------

def test_check_output_path_ok(tmp_path: Path) -> None:
    for name in ("o.tif", "o.TIFF", "o.zarr"):
        assert check_output_path(tmp_path / name, [tmp_path / "in.tif"]) == tmp_path / name


def test_exception_output_same_as_input(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "sub").mkdir()
    inp = tmp_path / "in.tif"
    with pytest.raises(InputError, match="same file as the input"):
        check_output_path(inp, [inp])
    with pytest.raises(InputError, match="same file as the input"):
        check_output_path(tmp_path / "sub" / ".." / "in.tif", [tmp_path / "other.tif", inp])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="same file as the input"):
        check_output_path("in.tif", [inp])


@pytest.mark.parametrize("name", ["o.png", "o.npy", "o"])
def test_exception_output_suffix(tmp_path: Path, name: str) -> None:
    with pytest.raises(InputError, match=r"must end in \.tif"):
        check_output_path(tmp_path / name, [tmp_path / "in.tif"])


def test_is_zarr_path() -> None:
    assert is_zarr_path("a/b.zarr") and is_zarr_path(Path("X.ZARR"))
    assert not is_zarr_path("a.zarr.tif") and not is_zarr_path("zarr")
