"""``blind-denoise`` with Noise2Noise pairs: ``--pair OTHER`` and ``--pairs-from T``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.core import psnr
from napari_blind_denoise.io import read_image
from tests.conftest import make_blobs
from tests.test_cli import FAST, cli, last_json, write_tif


def _acquisitions(shape=(64, 72), n=2, sigma=0.1):
    clean = (0.2 + make_blobs(shape, seed=4)).astype(np.float32)
    noisy = [(clean + np.random.default_rng(50 + k).normal(0, sigma, shape)).astype(np.float32)
             for k in range(n)]
    return clean, noisy


@pytest.fixture
def pair_files(tmp_path: Path) -> tuple[np.ndarray, Path, Path]:
    clean, (a, b) = _acquisitions()
    return clean, write_tif(tmp_path / "a.tif", a), write_tif(tmp_path / "b.tif", b)


def test_denoise_with_pair(capsys, pair_files, tmp_path: Path) -> None:
    clean, a, b = pair_files
    out = tmp_path / "out.tif"
    model = tmp_path / "model"
    rc, stdout, err = cli(capsys, "denoise", a, "--pair", b, "-o", out, "--method", "n2n",
                          "--steps", 60, "--save-model", model, "--json", "--quiet", *FAST)
    assert rc == 0, err
    assert last_json(stdout)["method"] == "n2n"
    result = read_image(out)[0]
    assert result.shape == clean.shape
    assert psnr(result, clean) > psnr(read_image(a)[0], clean) + 3.0
    again = tmp_path / "again.tif"  # a saved n2n model predicts one image, no pair needed
    rc, _, err = cli(capsys, "predict", a, "--model", model, "-o", again, "--device", "cpu",
                     "--quiet")
    assert rc == 0, err
    np.testing.assert_allclose(read_image(again)[0], result, rtol=1e-5, atol=1e-4)


def test_pairs_from_time_lapse_denoises_every_frame(capsys, tmp_path: Path) -> None:
    clean, frames = _acquisitions((64, 64), n=3)
    movie = write_tif(tmp_path / "movie.tif", np.stack(frames), "TYX")
    out = tmp_path / "out.tif"
    rc, _, err = cli(capsys, "denoise", movie, "--pairs-from", "T", "-o", out, "--method",
                     "n2n", "--steps", 60, "--quiet", *FAST)
    assert rc == 0, err
    result, axes = read_image(out)
    assert axes == "TYX" and result.shape == (3, 64, 64)
    assert psnr(result[2], clean) > psnr(frames[2], clean) + 3.0


def _error(capsys, *argv) -> str:
    rc, _, err = cli(capsys, *argv)
    assert rc == 2
    return err


def test_pair_errors(capsys, pair_files, tmp_path: Path) -> None:
    _, a, b = pair_files
    out = tmp_path / "out.tif"
    small = write_tif(tmp_path / "small.tif", np.zeros((64, 64), np.float32))
    err = _error(capsys, "denoise", a, "--pair", small, "-o", out, "--method", "n2n", *FAST)
    assert "has shape (64, 64), the input (64, 72); the pair must be of one shape" in err
    err = _error(capsys, "denoise", a, "--pair", b, "-o", out, "--method", "n2v", *FAST)
    assert "--pair needs a method trained on pairs (n2n), not n2v" in err
    err = _error(capsys, "denoise", a, "--pairs-from", "T", "-o", out, "--method", "n2s",
                 *FAST)
    assert "--pairs-from needs a method trained on pairs (n2n), not n2s" in err
    err = _error(capsys, "denoise", a, "-o", out, "--method", "n2n", *FAST)
    assert "give --pair PATH (a second acquisition), or --pairs-from T" in err
    err = _error(capsys, "denoise", a, "--pair", b, "--pairs-from", "T", "-o", out,
                 "--method", "n2n", *FAST)
    assert "not both" in err
    err = _error(capsys, "denoise", a, "--pair", out, "-o", out, "--method", "n2n", *FAST)
    assert "same file as the input" in err
    assert not out.exists()


def test_demo_says_where_pairs_are_given(capsys, tmp_path: Path) -> None:
    """demo has one image and no pair flags: the message points to denoise --pair."""
    err = _error(capsys, "demo", "--method", "n2n", "--out", tmp_path / "demo", *FAST)
    assert "this command has one image: use blind-denoise denoise IMAGE --method n2n " \
           "--pair OTHER" in err
    assert not (tmp_path / "demo").exists()


def test_pairs_from_errors(capsys, tmp_path: Path) -> None:
    stack = write_tif(tmp_path / "z.tif", np.zeros((4, 64, 64), np.float32), "ZYX")
    one = write_tif(tmp_path / "one.tif", np.zeros((1, 64, 64), np.float32), "TYX")
    out = tmp_path / "out.tif"
    err = _error(capsys, "denoise", stack, "--pairs-from", "T", "-o", out, "--method", "n2n",
                 *FAST)
    assert "the image has no T axis" in err and "ZYX" in err
    err = _error(capsys, "denoise", one, "--pairs-from", "T", "-o", out, "--method", "n2n",
                 *FAST)
    assert "needs at least 2 frames along T; the image has 1" in err
    assert not out.exists()
