"""``--tta auto|on|off``: the default ``auto`` averages n2v/n2s over the flips/rotations on
small images; the summary says what was done."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from napari_blind_denoise.cli import main
from tests.conftest import make_noisy

# --blend off: 3 steps leave the calibrated blur all the weight, which TTA does not change
FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu", "--no-yardstick",
        "--blend", "off", "--steps", "3", "--json"]


def _denoise(capsys, tmp_path, name: str, *flags: str) -> tuple[dict, np.ndarray]:
    out = tmp_path / f"{name}.tif"
    rc = main(["denoise", str(tmp_path / "in.npy"), "-o", str(out), "--method", "n2s",
               *FAST, *flags])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return json.loads(cap.out.strip().splitlines()[-1]), tifffile.imread(out)


def test_tta_default_on_flags_and_summary(capsys, tmp_path) -> None:
    np.save(tmp_path / "in.npy", make_noisy((64, 96))[0])
    auto, auto_img = _denoise(capsys, tmp_path, "auto")
    off, off_img = _denoise(capsys, tmp_path, "off", "--tta", "off")
    on, on_img = _denoise(capsys, tmp_path, "on", "--tta")
    assert (auto["tta"], off["tta"], on["tta"]) == (True, False, True)
    np.testing.assert_array_equal(auto_img, on_img)  # training is seeded: same model
    assert not np.allclose(auto_img, off_img)
