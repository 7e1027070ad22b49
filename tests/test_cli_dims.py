"""``--dims``: a 3-D network from the command line, end to end, shaped by the file's voxel
size; refused where it cannot apply."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_blind_denoise.cli import main
from napari_blind_denoise.core import load_model
from tests.conftest import make_volume

FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu", "--steps", "4",
        "--no-yardstick", "--json"]


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def volume_tif(path: Path, z_spacing: float = 1.0) -> Path:
    """A 20x48x48 ImageJ TIFF with voxels of ``z_spacing`` x 0.5 x 0.5 um."""
    data = make_volume((20, 48, 48), seed=3)[0].astype(np.float32)
    tifffile.imwrite(path, data, imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": z_spacing, "unit": "um", "axes": "ZYX"})
    return path


@pytest.mark.parametrize(("dims", "z_spacing", "levels"), [("3", 2.0, 2), ("auto", 0.5, 0)])
def test_denoise_and_predict_with_a_3d_network(capsys, tmp_path, dims, z_spacing,
                                               levels) -> None:
    src = volume_tif(tmp_path / "vol.tif", z_spacing)
    model = tmp_path / "model"
    rc, out, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2v",
                       "--dims", dims, "--save-model", model, *FAST)
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["shape"] == [20, 48, 48]
    assert "3-D network" in err  # the notice
    cfg = load_model(model).config.model
    assert cfg.dims == 3 and cfg.yx_levels == levels  # Z 4x (1x) the Y/X spacing
    denoised = tifffile.imread(tmp_path / "out.tif")
    assert denoised.shape == (20, 48, 48) and np.isfinite(denoised).all()
    rc, _, err = cli(capsys, "predict", src, "--model", model, "-o", tmp_path / "again.tif",
                     "--device", "cpu")
    assert rc == 0, err
    assert np.allclose(tifffile.imread(tmp_path / "again.tif"), denoised,
                       atol=1e-4 * np.ptp(denoised))


def test_nnet_with_a_3d_network_writes_its_noise_outputs(capsys, tmp_path) -> None:
    """``--method nnet --dims 3``: a 3-D D-net, calibrated, with the noise std of every
    voxel and the noise model summary."""
    src = volume_tif(tmp_path / "vol.tif")
    noise, model = tmp_path / "noise", tmp_path / "model"
    rc, out, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "nnet",
                       "--dims", "3", "--noise-out", noise, "--save-model", model, *FAST)
    assert rc == 0, err
    assert json.loads(out.strip().splitlines()[-1])["shape"] == [20, 48, 48]
    trained = load_model(model)
    assert trained.config.model.dims == 3
    assert trained.info["noise_correction"]["crop_depth"] == trained.config.train.patch_depth
    assert sorted(p.name for p in noise.iterdir()) == [
        "noise_curve.csv", "noise_model.json", "noise_std.tif"]
    std = tifffile.imread(noise / "noise_std.tif")
    assert std.shape == (20, 48, 48) and np.isfinite(std).all() and std.min() > 0
    summary = json.loads((noise / "noise_model.json").read_text())
    assert summary["method"] == "nnet" and summary["calibration"] is not None


def test_dims_2_keeps_planes(capsys, tmp_path) -> None:
    src = volume_tif(tmp_path / "vol.tif")
    model = tmp_path / "model"
    rc, _, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2s",
                     "--dims", "2", "--save-model", model, *FAST)
    assert rc == 0, err
    assert load_model(model).config.model.dims == 2


def test_exception_3d_model_on_a_plane(capsys, tmp_path) -> None:
    src = volume_tif(tmp_path / "vol.tif")
    model = tmp_path / "model"
    rc, _, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2v",
                     "--dims", "3", "--save-model", model, *FAST)
    assert rc == 0, err
    plane = tmp_path / "plane.tif"
    tifffile.imwrite(plane, tifffile.imread(src)[0], metadata={"axes": "YX"},
                     photometric="minisblack")
    rc, _, err = cli(capsys, "predict", plane, "--model", model, "-o", tmp_path / "p.tif",
                     "--device", "cpu")
    assert rc == 2 and "3-D network" in err and "Z axis" in err
    assert err.strip().splitlines() == [err.strip()]


def test_exception_dims_3_for_a_2d_method(capsys, tmp_path) -> None:
    src = volume_tif(tmp_path / "vol.tif")
    rc, _, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "s2s",
                     "--dims", "3", *FAST)
    assert rc == 2 and "no 3-D network" in err
