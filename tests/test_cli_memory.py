"""``--memory-budget``: passed to prediction, printed in the summary, checked."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import zarr

from napari_blind_denoise._cli_common import memory_warnings
from napari_blind_denoise.cli import main
from tests.conftest import make_noisy

FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu", "--no-yardstick"]


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_budget_reaches_prediction_and_the_summary(capsys, tmp_path) -> None:
    stack = np.stack([make_noisy((64, 96), seed=s)[0] for s in range(3)]).astype(np.float32)
    inp = zarr.open_array(store=str(tmp_path / "in.zarr"), mode="w", shape=stack.shape,
                          dtype="float32", chunks=(1, 32, 32))
    inp[...] = stack
    model = tmp_path / "model"
    rc, out, err = cli(capsys, "denoise", tmp_path / "in.zarr", "-o", tmp_path / "a.zarr",
                       "--method", "n2v", "--axes", "ZYX", "--steps", 4, "--save-model", model,
                       "--memory-budget", 1, "--json", "--blend", "off", *FAST[:-1])
    # (the network alone: at 4 steps the blend can weigh it 0, and the blur alone needs
    # no network-sized tile)
    assert rc == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["memory_budget_mb"] == 1
    assert summary["predict_tile"] < 96 and summary["predict_memory_mb"] <= 1
    rc, out, err = cli(capsys, "predict", tmp_path / "in.zarr", "--model", model, "-o",
                       tmp_path / "b.zarr", "--device", "cpu")
    assert rc == 0, err
    line = next(x for x in out.splitlines() if x.startswith("memory_budget_mb: "))
    assert float(line.split(": ")[1]) >= 256  # the default: a fraction of available memory
    assert zarr.open_array(store=str(tmp_path / "b.zarr"), mode="r").shape == stack.shape


def test_budget_too_small_exits_with_one_line(capsys, tmp_path) -> None:
    inp = tmp_path / "in.npy"
    np.save(inp, make_noisy((64, 96))[0])
    rc, _, err = cli(capsys, "denoise", inp, "-o", tmp_path / "a.zarr", "--method", "n2v",
                     "--steps", 2, "--memory-budget", 0.01, *FAST)
    assert rc == 2 and "memory budget of 0.01 MB is too small" in err
    assert err.strip().splitlines() == [err.strip()]  # refused before training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.npy"]


def test_exception_budget_not_positive(capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["denoise", "x.tif", "-o", str(tmp_path / "a.tif"), "--method", "n2v",
              "--memory-budget", "0"])
    assert exc.value.code == 2
    assert "positive number of MB" in capsys.readouterr().err


def test_whole_arrays_beyond_the_budget_are_warned_about(capsys) -> None:
    args = argparse.Namespace(memory_budget=1.0)
    memory_warnings(args, np.zeros((4, 512, 512), np.float32), ["out.tif"])
    err = capsys.readouterr().err
    assert "the input (4 MB) is read whole" in err and "TIFF output" not in err
    memory_warnings(args, zarr.zeros((4, 512, 512), dtype="float32"), ["out.tif"])
    assert capsys.readouterr().err == ""  # a lazy input, and TIFF outputs stream
    memory_warnings(argparse.Namespace(memory_budget=8.0),
                    np.zeros((4, 512, 512), np.float32), ["out.tif"])
    assert capsys.readouterr().err == ""  # within the budget
