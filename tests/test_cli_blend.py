"""``--blend auto|off``: n2v/n2s blend the network with a calibrated blur by default; the
summary and stderr say so; ``off`` gives the network alone; other methods refuse it."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from napari_blind_denoise.cli import main
from tests.conftest import make_noisy

FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu", "--no-yardstick",
        "--steps", "3", "--tta", "off", "--json"]


def _denoise(capsys, tmp_path, name: str, *flags: str):
    out = tmp_path / f"{name}.tif"
    rc = main(["denoise", str(tmp_path / "in.npy"), "-o", str(out), *FAST, *flags])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    return json.loads(cap.out.strip().splitlines()[-1]), tifffile.imread(out), cap.err


def test_blend_by_default_off_on_request_and_refused_elsewhere(capsys, tmp_path) -> None:
    np.save(tmp_path / "in.npy", make_noisy((64, 96))[0])
    auto, auto_img, err = _denoise(capsys, tmp_path, "auto", "--method", "n2s")
    blend = auto["blend"]
    assert 0.0 <= blend["weight"] <= 1.0 and "Gaussian blur" in blend["filter"]
    assert blend["blend_loss"] <= min(blend["network_loss"], blend["filter_loss"])
    if blend["weight"] < 1.0:
        assert "the result is the network's output blended with a calibrated" in err
    off, off_img, err = _denoise(capsys, tmp_path, "off", "--method", "n2s", "--blend", "off")
    assert off["blend"] is None and "blended" not in err
    assert blend["weight"] == 1.0 or not np.allclose(auto_img, off_img)
    rc = main(["denoise", str(tmp_path / "in.npy"), "-o", str(tmp_path / "x.tif"),
               "--method", "nnet", "--blend", "off", *FAST])
    assert rc != 0 and "--blend applies to n2v, n2s" in capsys.readouterr().err
