"""``blind-denoise denoise``/``predict`` on many files: one model, one output per file."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.core import TrainingSession, is_model_folder
from napari_blind_denoise.io import read_image
from tests.conftest import make_noisy
from tests.test_cli import FAST, cli, last_json, write_tif


@pytest.fixture
def three(tmp_path: Path) -> list[Path]:
    src = tmp_path / "in"
    src.mkdir()
    shapes = [(64, 72), (64, 64), (80, 64)]
    return [write_tif(src / f"img{k}.tif", make_noisy(s, seed=k)[0])
            for k, s in enumerate(shapes)]


def test_three_files_one_model(capsys, monkeypatch, three: list[Path], tmp_path: Path) -> None:
    sessions = []
    real_init = TrainingSession.__init__

    def counting_init(self, *args, **kwargs):
        sessions.append(self)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(TrainingSession, "__init__", counting_init)
    before = {p: p.read_bytes() for p in three}
    out = tmp_path / "out"
    rc, stdout, err = cli(capsys, "denoise", *three, "-o", out, "--method", "n2v",
                          "--steps", 10, "--json", *FAST)
    assert rc == 0, err
    assert len(sessions) == 1  # trained once, on patches of every file
    assert sessions[0].layout.shape[0] == 5  # 1x2 + 1 + 2x1 crops of 64x64
    summary = last_json(stdout)
    assert summary["steps"] == 10
    assert sorted(p.name for p in out.iterdir()) == ["img0.tif", "img1.tif", "img2.tif",
                                                     "model"]
    assert [p for p in out.iterdir() if p.is_dir() and is_model_folder(p)] == [out / "model"]
    assert summary["model"] == str(out / "model")
    for row, src in zip(summary["files"], three, strict=True):
        assert row["input"] == str(src) and row["output"] == str(out / src.name)
        data, axes = read_image(out / src.name)
        assert axes == "YX" and data.shape == read_image(src)[0].shape
        assert np.isfinite(data).all()
    assert before == {p: p.read_bytes() for p in three}
    assert "predict 3/3 img2.tif tile" in err  # one progress display across files
    rc, stdout, _ = cli(capsys, "denoise", *three, "-o", tmp_path / "o2", "--method", "n2v",
                        "--steps", 5, "--quiet", *FAST)
    lines = [ln for ln in stdout.splitlines() if " -> " in ln]
    assert rc == 0 and len(lines) == 3 and "removed" in lines[0]


def test_folder_and_pattern_then_predict(capsys, three: list[Path], tmp_path: Path) -> None:
    out, model = tmp_path / "out", tmp_path / "m"
    rc, stdout, err = cli(capsys, "denoise", three[0].parent, "-o", out, "--method", "n2s",
                          "--steps", 5, "--save-model", model, "--json", "--quiet", *FAST)
    assert rc == 0, err
    assert len(last_json(stdout)["files"]) == 3 and is_model_folder(model)
    assert not (out / "model").exists()
    again = tmp_path / "again"
    pattern = str(three[0].parent / "img*.tif")
    rc, stdout, err = cli(capsys, "predict", pattern, "--model", model, "-o", again,
                          "--device", "cpu", "--json", "--quiet")
    assert rc == 0, err
    assert [Path(r["input"]).name for r in last_json(stdout)["files"]] == [
        Path(p).name for p in sorted(glob.glob(pattern))]
    for p in three:
        np.testing.assert_allclose(read_image(again / p.name)[0], read_image(out / p.name)[0],
                                   rtol=1e-5, atol=1e-3)


def test_refuses_to_write_onto_inputs(capsys, three: list[Path], tmp_path: Path) -> None:
    before = {p: p.read_bytes() for p in three}
    rc, _, err = cli(capsys, "denoise", *three, "-o", three[0].parent, "--method", "n2v",
                     *FAST)
    assert rc == 2 and "would replace an input" in err
    rc, _, err = cli(capsys, "denoise", *three, "-o", tmp_path / "x.tif", "--method", "n2v",
                     *FAST)
    assert rc == 2 and "-o names a folder" in err
    twin = tmp_path / "other"
    twin.mkdir()
    write_tif(twin / "img0.tif", make_noisy((64, 64))[0])
    rc, _, err = cli(capsys, "denoise", three[0], twin / "img0.tif", "-o", tmp_path / "o",
                     "--method", "n2v", *FAST)
    assert rc == 2 and "same output img0.tif" in err
    foreign = tmp_path / "o3"
    foreign.mkdir()
    (foreign / "img1.tif").write_bytes(b"not ours")
    rc, _, err = cli(capsys, "denoise", *three, "-o", foreign, "--method", "n2v", *FAST)
    assert rc == 2 and (foreign / "img1.tif").read_bytes() == b"not ours"
    rc, _, err = cli(capsys, "denoise", tmp_path / "nothing*.tif", "-o", tmp_path / "o4",
                     "--method", "n2v", *FAST)
    assert rc == 2 and "names no image file" in err
    rc, _, err = cli(capsys, "denoise", *three, "-o", tmp_path / "o5", "--method", "n2n",
                     "--pairs-from", "T", *FAST)
    assert rc == 2 and "--pairs-from applies to one input" in err
    rc, _, err = cli(capsys, "denoise", *three, "-o", tmp_path / "o6", "--method", "s2s",
                     "--exclude-impulses", *FAST)
    assert rc == 2 and "--exclude-impulses applies to one input" in err
    rc, _, err = cli(capsys, "denoise", *three, "-o", tmp_path / "o5", "--method", "n2n",
                     *FAST)
    assert rc == 2 and "denoise each pair on its own" in err
    assert before == {p: p.read_bytes() for p in three}
    assert not any((tmp_path / n).exists() for n in ("o", "o4", "o5", "x.tif"))


def test_budget_too_small_for_one_file_is_refused_before_training(capsys, three: list[Path],
                                                                  tmp_path: Path) -> None:
    big = write_tif(tmp_path / "in" / "big.tif", make_noisy((512, 512), seed=9)[0])
    out = tmp_path / "out"
    rc, _, err = cli(capsys, "denoise", *three, big, "-o", out, "--method", "n2v",
                     "--steps", 2, "--memory-budget", 0.2, *FAST)
    assert rc == 2 and f"{big}: a memory budget of 0.2 MB is too small" in err
    assert "step" not in err  # refused before training
    assert not out.exists() or not any(out.iterdir())
    model = tmp_path / "model"
    rc, _, err = cli(capsys, "denoise", *three, "-o", tmp_path / "o1", "--method", "n2v",
                     "--steps", 2, "--save-model", model, "--quiet", *FAST)
    assert rc == 0, err
    rc, _, err = cli(capsys, "predict", *three, big, "--model", model, "-o", tmp_path / "o2",
                     "--memory-budget", 0.2, "--device", "cpu")
    assert rc == 2 and f"{big}: a memory budget" in err
    assert not (tmp_path / "o2").exists() or not any((tmp_path / "o2").iterdir())


def test_dims_3_is_refused_for_several_files(capsys, three: list[Path], tmp_path: Path) -> None:
    rc, _, err = cli(capsys, "denoise", *three, "-o", tmp_path / "out", "--method", "n2v",
                     "--dims", 3, *FAST)
    assert rc == 2 and "--dims 3 applies to one input" in err


def test_summary_rows_say_whether_tta_ran(capsys, three: list[Path], tmp_path: Path) -> None:
    rc, stdout, err = cli(capsys, "denoise", *three, "-o", tmp_path / "out", "--method", "n2s",
                          "--steps", 2, "--json", "--tta", "off", *FAST)
    assert rc == 0, err
    assert [row["tta"] for row in last_json(stdout)["files"]] == [False] * 3
    rc, stdout, err = cli(capsys, "denoise", *three, "-o", tmp_path / "o2", "--method", "n2s",
                          "--steps", 2, "--json", *FAST)
    assert rc == 0, err
    assert [row["tta"] for row in last_json(stdout)["files"]] == [True] * 3
