"""``blind-denoise`` with the calibrated classical filter: the chosen filter in the JSON
summary and on stderr, a saved model applied again."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_blind_denoise.cli import main
from napari_blind_denoise.core.methods.classical import FAMILIES
from tests.conftest import make_noisy


@pytest.fixture
def noisy_tif(tmp_path: Path) -> Path:
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, make_noisy((64, 72))[0])
    return path


def test_denoise_reports_the_filter(noisy_tif: Path, tmp_path: Path, capsys) -> None:
    out, model = tmp_path / "out.tif", tmp_path / "model"
    rc = main(["denoise", str(noisy_tif), "-o", str(out), "--method", "classical", "--json",
               "--save-model", str(model)])
    cap = capsys.readouterr()
    assert rc == 0
    summary = json.loads(cap.out.strip().splitlines()[-1])
    chosen = summary["adapted"]["classical"]
    assert chosen["filter"] in FAMILIES and chosen["params"]
    assert chosen["summary"].startswith(FAMILIES[chosen["filter"]].label)
    assert f"calibrated {chosen['summary']}" in cap.err  # the notice on stderr
    progress = [line for line in cap.err.splitlines() if line.startswith("train ")]
    assert progress and not any(" lr " in p or "patches/s" in p for p in progress)  # no optimiser
    assert summary["steps"] == chosen["candidates_tried"]
    denoised = tifffile.imread(out)
    assert denoised.std() < tifffile.imread(noisy_tif).std()

    again = tmp_path / "again.tif"
    assert main(["predict", str(noisy_tif), "--model", str(model), "-o", str(again),
                 "--quiet"]) == 0
    np.testing.assert_array_equal(tifffile.imread(again), denoised)
