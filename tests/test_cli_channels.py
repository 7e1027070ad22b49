"""``--channels joint|separate`` on the training commands: one model per channel end to end
(saved, reloaded, predicted again), each channel as its own run would give it; refused
where it cannot apply."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_blind_denoise.cli import build_parser, main
from napari_blind_denoise.core import DEFAULT_CHANNELS, ChannelModels, TrainedModel, load_model
from tests.conftest import make_noisy

FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu", "--no-yardstick",
        "--json"]


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def cyx_tif(path: Path, seed: int = 0) -> Path:
    a, _ = make_noisy((48, 48), seed=seed)
    b, _ = make_noisy((48, 48), seed=seed + 7, gain=150.0, sigma=10.0)
    tifffile.imwrite(path, np.stack([a, b]), metadata={"axes": "CYX"})
    return path


def test_separate_channels_are_each_channel_run_alone(capsys, tmp_path) -> None:
    """Channel c of ``--channels separate --steps 4`` is what denoising channel c on its own
    with ``--steps 2`` (its share) writes; the saved models predict it again."""
    src = cyx_tif(tmp_path / "img.tif")
    model = tmp_path / "model"
    rc, out, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2v",
                       "--axes", "CYX", "--channels", "separate", "--steps", "4",
                       "--save-model", model, *FAST)
    assert rc == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["steps"] == 4 and len(summary["best_step"]) == 2
    denoised = tifffile.imread(tmp_path / "out.tif")
    assert denoised.shape == (2, 48, 48)
    trained = load_model(model)
    assert isinstance(trained, ChannelModels) and trained.config.model.channels == "separate"
    data = tifffile.imread(src)
    for c in range(2):
        one = tmp_path / f"c{c}.tif"
        tifffile.imwrite(one, data[c], metadata={"axes": "YX"})
        rc, _, err = cli(capsys, "denoise", one, "-o", tmp_path / f"c{c}-out.tif", "--method",
                         "n2v", "--axes", "YX", "--steps", "2", *FAST)
        assert rc == 0, err
        assert np.array_equal(tifffile.imread(tmp_path / f"c{c}-out.tif"), denoised[c])
    rc, _, err = cli(capsys, "predict", src, "--model", model, "-o", tmp_path / "again.tif",
                     "--device", "cpu")
    assert rc == 0, err
    assert np.array_equal(tifffile.imread(tmp_path / "again.tif"), denoised)


def test_joint_channels_train_one_model(capsys, tmp_path) -> None:
    src = cyx_tif(tmp_path / "img.tif")
    rc, _, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2s",
                     "--axes", "CYX", "--channels", "joint", "--steps", "2", "--save-model",
                     tmp_path / "model", *FAST)
    assert rc == 0, err
    trained = load_model(tmp_path / "model")
    assert isinstance(trained, TrainedModel) and trained.channels == 2
    assert trained.config.model.channels == "joint"


def test_the_default_is_the_documented_one(capsys, tmp_path) -> None:
    args = build_parser().parse_args(["denoise", "x.tif", "-o", "y.tif", "--method", "n2v"])
    assert args.channels is None  # the preset's: DEFAULT_CHANNELS
    with pytest.raises(SystemExit):
        build_parser().parse_args(["denoise", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--channels {joint,separate}" in text
    assert f"Default {DEFAULT_CHANNELS}:" in text


def test_an_unknown_mode_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["denoise", "x.tif", "-o", "y.tif", "--method", "n2v", "--channels", "both"])
    assert exc.value.code == 2
    assert "invalid choice: 'both'" in capsys.readouterr().err


def test_several_files_train_one_model_per_channel(capsys, tmp_path) -> None:
    inputs = [cyx_tif(tmp_path / f"{k}.tif", seed=k) for k in range(2)]
    rc, _, err = cli(capsys, "denoise", *inputs, "-o", tmp_path / "out", "--method", "n2v",
                     "--axes", "CYX", "--channels", "separate", "--steps", "2", *FAST)
    assert rc == 0, err
    trained = load_model(tmp_path / "out" / "model")
    assert isinstance(trained, ChannelModels) and trained.axes == "CYX"
    for k in range(2):
        out = tifffile.imread(tmp_path / "out" / f"{k}.tif")
        assert out.shape == (2, 48, 48) and np.isfinite(out).all()


def test_export_refuses_one_model_per_channel(capsys, tmp_path) -> None:
    src = cyx_tif(tmp_path / "img.tif")
    rc, _, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2v",
                     "--axes", "CYX", "--channels", "separate", "--steps", "2",
                     "--save-model", tmp_path / "model", *FAST)
    assert rc == 0, err
    rc, _, err = cli(capsys, "export", tmp_path / "model", "-o", tmp_path / "pkg.zip")
    assert rc == 2
    assert "one model per channel" in err and "--channels joint" in err
    assert not (tmp_path / "pkg.zip").exists()
