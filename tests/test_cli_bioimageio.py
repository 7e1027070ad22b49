"""``blind-denoise export`` and ``predict --model package.zip``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.core import bioimageio_available
from napari_blind_denoise.io import read_image
from tests.conftest import make_noisy
from tests.test_cli import FAST, cli, last_json, write_tif

pytestmark = pytest.mark.skipif(
    not bioimageio_available(), reason="the [bioimageio] extra (bioimageio.spec) is not "
    'installed: pip install "napari-blind-denoise[bioimageio]"')


def test_export_then_predict_with_the_package(capsys, tmp_path: Path) -> None:
    noisy = write_tif(tmp_path / "noisy.tif", make_noisy((96, 96))[0])
    other = write_tif(tmp_path / "other.tif", make_noisy((80, 112), seed=5)[0])
    model = tmp_path / "model"
    rc, _, err = cli(capsys, "denoise", noisy, "-o", tmp_path / "den.tif", "--method", "n2v",
                     "--steps", "10", *FAST, "--save-model", model, "--no-yardstick",
                     "--blend", "off", "--quiet")  # a package holds the network alone
    assert rc == 0, err
    rc, out, err = cli(capsys, "export", model, "-o", tmp_path / "model.zip", "--sample",
                       noisy, "--author", "A. Person", "--json")
    assert rc == 0, err
    summary = last_json(out)
    assert summary["weights"] == ["pytorch_state_dict", "torchscript"]
    assert (tmp_path / "model.zip").is_file()

    outs = {}
    for name, source in (("folder", model), ("package", tmp_path / "model.zip")):
        # the package holds the one-pass network: compare without test-time augmentation
        rc, _, err = cli(capsys, "predict", other, "--model", source, "-o",
                         tmp_path / f"{name}.tif", "--device", "cpu", "--quiet", "--tta", "off")
        assert rc == 0, err
        outs[name] = read_image(tmp_path / f"{name}.tif")[0]
    span = float(np.ptp(outs["folder"]))
    np.testing.assert_allclose(outs["package"], outs["folder"], rtol=0, atol=1e-4 * span)


def test_export_refuses_a_method_without_one_pass(capsys, tmp_path: Path) -> None:
    noisy = write_tif(tmp_path / "noisy.tif", make_noisy((64, 64))[0])
    model = tmp_path / "s2s"
    rc, _, err = cli(capsys, "denoise", noisy, "-o", tmp_path / "den.tif", "--method", "s2s",
                     "--steps", "2", *FAST, "--save-model", model, "--no-yardstick",
                     "--quiet")
    assert rc == 0, err
    rc, _, err = cli(capsys, "export", model, "-o", tmp_path / "s2s.zip")
    assert rc == 2
    assert "not one plain pass" in err and "Traceback" not in err
    assert not (tmp_path / "s2s.zip").exists()
