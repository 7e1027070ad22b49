"""TIFF inputs and outputs larger than the memory budget stream instead of being held whole
(io/images.py: ``read_image(whole_below=)``, ``open_output(whole_below=)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import napari_blind_denoise.cli as cli_module
import napari_blind_denoise.io as io_module
from napari_blind_denoise.cli import main
from napari_blind_denoise.io.images import is_our_tiff, open_output, read_image, write_image
from tests.conftest import make_noisy


def stack(shape=(3, 2, 40, 56)) -> np.ndarray:
    return np.random.default_rng(3).random(shape).astype(np.float32)


def test_a_tiff_above_the_limit_is_read_lazily_with_the_same_pixels(tmp_path: Path) -> None:
    data = stack()
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, data, metadata={"axes": "ZCYX"}, photometric="minisblack")
    whole, axes = read_image(path)
    lazy, lazy_axes = read_image(path, whole_below=data.nbytes - 1)
    assert isinstance(whole, np.ndarray) and isinstance(lazy, zarr.Array)
    assert axes == lazy_axes == "ZCYX"
    np.testing.assert_array_equal(lazy[...], data)
    np.testing.assert_array_equal(lazy[1, 0, 5:9], data[1, 0, 5:9])
    small, _ = read_image(path, whole_below=data.nbytes)  # at the limit: whole
    assert isinstance(small, np.ndarray)


def test_a_large_tiff_output_is_filled_in_a_hidden_store_and_streamed(tmp_path: Path) -> None:
    data = stack()
    out = open_output(tmp_path / "out.tif", data.shape, "ZCYX", whole_below=data.nbytes - 1)
    assert isinstance(out.array, zarr.Array)
    assert out.tmp is not None and out.tmp.name.startswith(".out.tif")
    out.array[...] = data
    assert not (tmp_path / "out.tif").exists()  # nothing looks finished before commit
    path = out.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]  # the store is gone
    with tifffile.TiffFile(path) as tf:
        assert tf.series[0].axes == "ZCYX"
        np.testing.assert_array_equal(tf.asarray(), data)
    assert is_our_tiff(path)
    aborted = open_output(tmp_path / "b.tif", data.shape, "ZCYX", whole_below=1)
    aborted.abort()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_write_image_streams_a_lazy_array_page_by_page(tmp_path: Path) -> None:
    data = stack((4, 32, 40))
    src = zarr.open_array(store=str(tmp_path / "src.zarr"), mode="w", shape=data.shape,
                          chunks=(1, 32, 40), dtype="float32")
    src[...] = data
    reads = []

    class Spy:  # records every read; refuses a read of more than one page
        shape, dtype, ndim = src.shape, src.dtype, src.ndim

        def __getitem__(self, key):
            block = src[key]
            assert block.ndim <= 2, "a read of more than one page"
            reads.append(key)
            return block

    write_image(tmp_path / "o.tif", Spy(), "ZYX")
    assert len(reads) == 4
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "o.tif"), data)


@pytest.mark.parametrize("command", ["denoise", "predict"])
def test_cli_streams_a_tiff_beyond_the_budget_with_the_same_result(
        command, capsys, monkeypatch, tmp_path: Path) -> None:
    noisy = np.stack([make_noisy((64, 72), seed=s)[0] for s in range(2)])
    src = tmp_path / "stack.tif"
    tifffile.imwrite(src, noisy, metadata={"axes": "ZYX"}, photometric="minisblack")
    fast = ["--device", "cpu", "--quiet"]
    model = tmp_path / "model"
    train = ["--method", "n2v", "--steps", "3", "--patch-size", "32", "--batch-size", "4",
             "--seed", "0"]
    if command == "predict":
        assert main(["denoise", str(src), "-o", str(tmp_path / "first.tif"), *train,
                     "--save-model", str(model), *fast]) == 0
    args = train if command == "denoise" else ["--model", str(model)]
    assert main([command, str(src), "-o", str(tmp_path / "whole.tif"), *args, *fast]) == 0

    seen = []
    read = io_module.read_image

    def spy(path, **kw):
        data, axes = read(path, **kw)
        seen.append(type(data))
        return data, axes

    monkeypatch.setattr(io_module, "read_image", spy)
    monkeypatch.setattr(cli_module, "whole_below", lambda args: 1)
    import napari_blind_denoise._cli_common as common
    monkeypatch.setattr(common, "whole_below", lambda args: 1)
    assert main([command, str(src), "-o", str(tmp_path / "streamed.tif"), *args, *fast]) == 0
    assert seen and all(t is zarr.Array for t in seen)
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "streamed.tif"),
                                  tifffile.imread(tmp_path / "whole.tif"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
