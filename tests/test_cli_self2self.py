"""``blind-denoise`` with Self2Self: the uncertainty image as a file or into a folder, the
exclusion mask, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_blind_denoise.cli import main
from tests.conftest import make_noisy

FAST = ["--method", "s2s", "--steps", "3", "--patch-size", "32", "--batch-size", "2",
        "--quiet", "--json"]


@pytest.fixture
def noisy_tif(tmp_path: Path) -> Path:
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, make_noisy((64, 64))[0])
    return path


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_help_offers_a_path(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["denoise", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--uncertainty-out PATH" in text and "s2s, bsn only" in text
    assert "posterior_std.tif / uncertainty.tif" in text
    assert "--noise-out DIR" in text  # groups of several files keep a folder


def test_denoise_writes_the_uncertainty_tif(noisy_tif: Path, tmp_path: Path, capsys) -> None:
    out, unc = tmp_path / "out.tif", tmp_path / "spread.tif"
    assert main(["denoise", str(noisy_tif), "-o", str(out), "--uncertainty-out", str(unc),
                 *FAST]) == 0
    summary = _summary(capsys)
    assert summary["uncertainty_out"] == str(unc) and summary["method"] == "s2s"
    denoised, spread = tifffile.imread(out), tifffile.imread(unc)
    assert denoised.shape == spread.shape == (64, 64)
    assert np.isfinite(spread).all() and spread.min() > 0
    assert not (tmp_path / "spread.tif" / "uncertainty.tif").exists()


def test_denoise_writes_the_uncertainty_into_a_folder(noisy_tif: Path, tmp_path: Path,
                                                      capsys) -> None:
    folder = tmp_path / "unc"
    assert main(["denoise", str(noisy_tif), "-o", str(tmp_path / "out.tif"),
                 "--uncertainty-out", str(folder), *FAST]) == 0
    assert tifffile.imread(folder / "uncertainty.tif").shape == (64, 64)


@pytest.mark.parametrize("bad", [
    ("--uncertainty-out", "{out}", "already another output"),
    ("--uncertainty-out", "{inp}", "same file as the input"),
    ("--noise-out", "{tmp}/n.tif", "needs a method with noise outputs"),
])
def test_refusals(noisy_tif: Path, tmp_path: Path, capsys, bad) -> None:
    flag, value, message = bad
    out = tmp_path / "out.tif"
    value = value.format(out=out, inp=noisy_tif, tmp=tmp_path)
    assert main(["denoise", str(noisy_tif), "-o", str(out), flag, value, *FAST]) == 2
    assert message in capsys.readouterr().err


def test_a_file_path_for_a_folder_group_is_refused(noisy_tif: Path, tmp_path: Path,
                                                   capsys) -> None:
    rc = main(["denoise", str(noisy_tif), "-o", str(tmp_path / "out.tif"), "--method", "nnet",
               "--noise-out", str(tmp_path / "n.tif"), "--steps", "2", "--quiet"])
    assert rc == 2
    assert "--noise-out takes a folder" in capsys.readouterr().err


def test_exclude_mask_and_above(noisy_tif: Path, tmp_path: Path, capsys) -> None:
    noisy = tifffile.imread(noisy_tif)
    mask = np.zeros(noisy.shape, np.uint8)
    mask[10:20, 10:20] = 1
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    out = tmp_path / "out.tif"
    assert main(["denoise", str(noisy_tif), "-o", str(out), "--exclude-mask",
                 str(tmp_path / "mask.tif"), "--exclude-above", str(float(noisy.max())),
                 *FAST]) == 0
    assert np.isfinite(tifffile.imread(out)).all()  # the excluded pixels are filled in


def test_exclude_below_and_impulses_are_counted(tmp_path: Path, capsys) -> None:
    """Salt-and-pepper on an 8-bit image: --exclude-impulses finds it, --exclude-below names
    the dead pixels; the summary counts what each excluded and the known pixels excluded."""
    from tests.core.data.test_exclude import noisy_8bit, salt_and_pepper

    image, hit = salt_and_pepper(noisy_8bit((64, 64)), 0.05)
    dead = (image == 0).sum()
    tifffile.imwrite(tmp_path / "sp.tif", image)
    out = tmp_path / "out.tif"
    assert main(["denoise", str(tmp_path / "sp.tif"), "-o", str(out), "--exclude-below", "0",
                 "--exclude-impulses", *FAST[:-2], "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    by = summary["excluded_by"]
    assert by["below"] == dead and by["impulses"] >= 0.95 * hit.sum()
    assert summary["excluded_pixels"] >= by["impulses"]
    assert f"excluding {summary['excluded_pixels']} pixels" in captured.err
    assert np.isfinite(tifffile.imread(out)).all()


def test_no_exclusion_reports_none(noisy_tif: Path, tmp_path: Path, capsys) -> None:
    assert main(["denoise", str(noisy_tif), "-o", str(tmp_path / "out.tif"), *FAST]) == 0
    summary = _summary(capsys)
    assert summary["excluded_pixels"] == 0 and "excluded_by" not in summary


@pytest.mark.parametrize("flag", [["--exclude-below", "0"], ["--exclude-impulses"]])
def test_new_exclusions_refused_for_other_methods(noisy_tif: Path, tmp_path: Path, capsys,
                                                  flag) -> None:
    rc = main(["denoise", str(noisy_tif), "-o", str(tmp_path / "out.tif"), "--method", "n2v",
               *flag])
    assert rc == 2
    assert f"{flag[0]} needs a method that fills in unknown pixels (s2s)" in (
        capsys.readouterr().err)


def test_exclusion_refused_for_other_methods(noisy_tif: Path, tmp_path: Path, capsys) -> None:
    rc = main(["denoise", str(noisy_tif), "-o", str(tmp_path / "out.tif"), "--method", "n2v",
               "--exclude-above", "5"])
    assert rc == 2
    assert "--exclude-above needs a method that fills in unknown pixels (s2s)" in (
        capsys.readouterr().err)
