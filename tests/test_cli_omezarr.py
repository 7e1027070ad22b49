"""``blind-denoise`` with OME-Zarr in and out: level 0 read with its scale, an OME-Zarr image
with its own pyramid written, the level-0 scale kept."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import zarr

pytest.importorskip("ome_zarr_models", reason="OME-Zarr needs the [ome] extra (ome-zarr-models)")

from napari_blind_denoise.io.images import is_our_zarr, read_image
from napari_blind_denoise.io.omezarr import read_ome_zarr, write_ome_zarr
from tests.conftest import make_noisy
from tests.test_cli import FAST, cli, last_json, visible, write_tif

UM = "micrometer"


def ome_input(path: Path, data: np.ndarray, axes: str, spacing: dict) -> Path:
    return write_ome_zarr(path, data, axes, spacing=spacing, owned=is_our_zarr)


def levels(path: Path) -> list[tuple[int, ...]]:
    group = zarr.open_group(str(path), mode="r")
    return [group[k].shape for k in sorted(group.array_keys(), key=int)]


def test_denoise_2d_ome_zarr_round_trip(capsys, tmp_path: Path) -> None:
    noisy = make_noisy((64, 72))[0]
    src = ome_input(tmp_path / "in.ome.zarr", noisy, "YX", {"Y": (0.3, UM), "X": (0.3, UM)})
    out = tmp_path / "out.ome.zarr"
    rc, stdout, _ = cli(capsys, "denoise", src, "-o", out, "--method", "n2v", "--steps", 3,
                        "--json", "--quiet", *FAST)
    assert rc == 0
    assert last_json(stdout)["axes"] == "YX"
    ome = read_ome_zarr(out)
    assert ome.axes == "YX" and ome.level0.shape == (64, 72)
    assert ome.scale == (0.3, 0.3) and ome.units == (UM, UM)
    assert ome.attrs["method"] == "n2v" and ome.attrs["role"] == "denoised"
    assert levels(out) == [(64, 72), (32, 36)]
    assert np.isfinite(ome.level0[...]).all()
    assert abs(float(ome.level0[...].mean()) - float(noisy.mean())) < 0.1 * np.ptp(noisy)
    np.testing.assert_array_equal(read_ome_zarr(src).level0[...], noisy)  # input untouched
    assert visible(tmp_path) == ["in.ome.zarr", "out.ome.zarr"]


def test_denoise_zyx_ome_zarr_keeps_axes_and_anisotropic_scale(capsys, tmp_path: Path) -> None:
    noisy = np.stack([make_noisy((96, 64), seed=s)[0] for s in range(3)])
    spacing = {"Z": (2.0, UM), "Y": (0.5, UM), "X": (0.5, UM)}
    src = ome_input(tmp_path / "vol.ome.zarr", noisy, "ZYX", spacing)
    out = tmp_path / "res" / "vol_dn.ome.zarr"
    rc, stdout, _ = cli(capsys, "denoise", src, "-o", out, "--method", "n2s", "--steps", 3,
                        "--json", "--quiet", *FAST)
    assert rc == 0
    assert last_json(stdout)["shape"] == [3, 96, 64]
    ome = read_ome_zarr(out)
    assert ome.axes == "ZYX" and ome.level0.shape == (3, 96, 64)
    assert ome.scale == (2.0, 0.5, 0.5)
    assert levels(out) == [(3, 96, 64), (3, 48, 32)]
    assert isinstance(ome.level0, zarr.Array)  # level 0 read lazily


def test_batch_keeps_each_inputs_scale(capsys, tmp_path: Path) -> None:
    a = ome_input(tmp_path / "a.ome.zarr", make_noisy((64, 64))[0], "YX",
                  {"Y": (0.1, UM), "X": (0.1, UM)})
    b = ome_input(tmp_path / "b.ome.zarr", make_noisy((64, 64), seed=4)[0], "YX",
                  {"Y": (0.7, UM), "X": (0.7, UM)})
    outdir = tmp_path / "out"
    rc, _, err = cli(capsys, "denoise", a, b, "-o", outdir, "--method", "n2v", "--steps", 3,
                     "--quiet", *FAST)
    assert rc == 0, err
    assert read_ome_zarr(outdir / "a.ome.zarr").scale == (0.1, 0.1)
    assert read_ome_zarr(outdir / "b.ome.zarr").scale == (0.7, 0.7)


def test_predict_tif_to_ome_zarr_and_back(capsys, tmp_path: Path) -> None:
    inp = write_tif(tmp_path / "a.tif", make_noisy((64, 64))[0])
    model = tmp_path / "model"
    rc, _, _ = cli(capsys, "denoise", inp, "-o", tmp_path / "a_dn.tif", "--method", "n2v",
                   "--steps", 3, "--save-model", model, "--quiet", *FAST)
    assert rc == 0
    src = ome_input(tmp_path / "b.ome.zarr", make_noisy((64, 64), seed=3)[0], "YX",
                    {"Y": (0.2, UM), "X": (0.2, UM)})
    out = tmp_path / "b_dn.ome.zarr"
    rc, _, err = cli(capsys, "predict", src, "--model", model, "-o", out, "--quiet",
                     "--device", "cpu")
    assert rc == 0, err
    assert read_ome_zarr(out).scale == (0.2, 0.2)
    data, axes = read_image(out)  # read back through the CLI's reader: level 0, lazily
    assert axes == "YX" and data.shape == (64, 64) and isinstance(data, zarr.Array)


def test_imagej_tiff_pixel_size_goes_to_the_ome_zarr_output(capsys, tmp_path: Path) -> None:
    import tifffile

    noisy = np.stack([make_noisy((64, 64), seed=s)[0] for s in range(2)])
    inp = tmp_path / "ij.tif"
    tifffile.imwrite(inp, noisy, imagej=True, resolution=(1 / 0.2, 1 / 0.2),
                     metadata={"spacing": 1.5, "unit": "um", "axes": "ZYX"})
    out = tmp_path / "ij.ome.zarr"
    rc, _, err = cli(capsys, "denoise", inp, "-o", out, "--method", "n2v", "--steps", 3,
                     "--quiet", *FAST)
    assert rc == 0, err
    ome = read_ome_zarr(out)
    assert ome.axes == "ZYX" and ome.units == (UM,) * 3
    np.testing.assert_allclose(ome.scale, (1.5, 0.2, 0.2))


def test_axes_ome_zarr_cannot_hold_are_refused_before_training(capsys, tmp_path: Path) -> None:
    stack = np.stack([make_noisy((32, 32), seed=s)[0] for s in range(4)]).reshape(2, 2, 32, 32)
    inp = tmp_path / "zc.npy"
    np.save(inp, stack)
    out = tmp_path / "zc.ome.zarr"
    rc, _, err = cli(capsys, "denoise", inp, "-o", out, "--axes", "ZCYX", "--method", "n2v",
                     "--steps", 3, *FAST)
    assert rc == 2
    assert "order T, C, Z, Y, X" in err and "train" not in err
    assert visible(tmp_path) == ["zc.npy"]


def test_refuses_to_replace_a_foreign_folder(capsys, tmp_path: Path) -> None:
    inp = write_tif(tmp_path / "a.tif", make_noisy((64, 64))[0])
    out = tmp_path / "theirs.ome.zarr"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    rc, _, err = cli(capsys, "denoise", inp, "-o", out, "--method", "n2v", "--steps", 3, *FAST)
    assert rc == 2 and "did not write" in err
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_without_the_ome_extra_the_cli_says_so(capsys, tmp_path: Path, monkeypatch) -> None:
    inp = write_tif(tmp_path / "a.tif", make_noisy((64, 64))[0])
    src = ome_input(tmp_path / "in.ome.zarr", make_noisy((64, 64))[0], "YX", {})
    for name in ("ome_zarr_models.v05.image", "ome_zarr_models.v04.image"):
        monkeypatch.setitem(sys.modules, name, None)  # import fails as if not installed
    for argv in ((inp, "-o", tmp_path / "o.ome.zarr"), (src, "-o", tmp_path / "o.tif")):
        rc, _, err = cli(capsys, "denoise", *argv, "--method", "n2v", "--steps", 3, *FAST)
        assert rc == 2 and "[ome] extra" in err
    assert visible(tmp_path) == ["a.tif", "in.ome.zarr"]
