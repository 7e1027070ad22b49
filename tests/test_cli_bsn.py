"""``blind-denoise`` with bsn: denoise, ``--inference prior|posterior``, the noise and
uncertainty outputs, a saved model applied with ``predict``, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_blind_denoise.cli import main
from napari_blind_denoise.core import TrainingSession
from tests.conftest import make_noisy

FAST = ["--method", "bsn", "--steps", "3", "--patch-size", "32", "--batch-size", "2",
        "--device", "cpu", "--quiet", "--json"]


@pytest.fixture
def noisy_tif(tmp_path: Path) -> Path:
    path = tmp_path / "noisy.tif"
    tifffile.imwrite(path, make_noisy((48, 56))[0])
    return path


def _run(capsys, *argv) -> tuple[int, dict, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    lines = cap.out.strip().splitlines()
    return rc, (json.loads(lines[-1]) if rc == 0 else {}), cap.err


@pytest.mark.slow
def test_denoise_posterior_and_prior(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    post, prior = tmp_path / "post.tif", tmp_path / "prior.tif"
    noise, unc = tmp_path / "noise", tmp_path / "std.tif"
    rc, summary, err = _run(capsys, "denoise", noisy_tif, "-o", post, "--noise-model",
                            "poisson-gaussian", "--noise-out", noise, "--uncertainty-out", unc,
                            "--save-model", tmp_path / "model", *FAST)
    assert rc == 0, err
    assert summary["method"] == "bsn" and summary["noise_model"] == "poisson-gaussian"
    assert "blind_spot" in summary["adapted"]
    assert sorted(p.name for p in noise.iterdir()) == ["noise_curve.csv", "noise_model.json",
                                                       "noise_std.tif"]
    # Poisson-Gaussian: estimated from the data and held unless --noise-fit learn
    table = json.loads((noise / "noise_model.json").read_text())
    assert table["parameters"][0]["estimated"] is True
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["config"]["noise_model"]["fit"] == "estimate"
    assert tifffile.imread(unc).shape == tifffile.imread(post).shape == (48, 56)
    rc, _, err = _run(capsys, "denoise", noisy_tif, "-o", prior, "--inference", "prior", *FAST)
    assert rc == 0, err
    a, b = tifffile.imread(post), tifffile.imread(prior)
    assert np.isfinite(a).all() and np.isfinite(b).all() and not np.allclose(a, b)
    # the saved model predicts the same posterior, and the prior on request
    rc, _, err = _run(capsys, "predict", noisy_tif, "--model", tmp_path / "model", "-o",
                      tmp_path / "again.tif", "--json", "--quiet")
    assert rc == 0, err
    np.testing.assert_allclose(tifffile.imread(tmp_path / "again.tif"), a, rtol=1e-5, atol=1e-3)
    rc, _, err = _run(capsys, "predict", noisy_tif, "--model", tmp_path / "model", "-o",
                      tmp_path / "p.tif", "--inference", "prior", "--json", "--quiet")
    assert rc == 0, err
    assert not np.allclose(tifffile.imread(tmp_path / "p.tif"), a)


@pytest.mark.slow
def test_impulse_noise_model_and_known_sigma(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    noise = tmp_path / "noise"
    rc, summary, err = _run(capsys, "denoise", noisy_tif, "-o", tmp_path / "imp.tif",
                            "--noise-model", "impulse", "--noise-out", noise, *FAST)
    assert rc == 0, err
    assert summary["noise_model"] == "impulse" and 0 < summary["noise_alpha"] < 1
    table = json.loads((noise / "noise_model.json").read_text())
    assert table["kind"] == "impulse" and table["components"] == 2
    assert table["alpha"] == summary["noise_alpha"] and not table["sigma_known"]
    low, high = table["impulse_range"]
    data = tifffile.imread(noisy_tif)
    assert low == pytest.approx(data.min(), rel=1e-4) and high == pytest.approx(data.max(),
                                                                                rel=1e-4)
    std = tifffile.imread(noise / "noise_std.tif")
    assert std.shape == data.shape and (std > 0).all()
    # a known sigma: kept as given, in the saved config and the noise files
    rc, summary, err = _run(capsys, "denoise", noisy_tif, "-o", tmp_path / "known.tif",
                            "--noise-sigma", "7.5", "--noise-out", tmp_path / "n2",
                            "--save-model", tmp_path / "model", *FAST)
    assert rc == 0, err
    table = json.loads((tmp_path / "n2" / "noise_model.json").read_text())
    assert table["sigma_known"] and table["sigma"] == pytest.approx(7.5, rel=1e-4)
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["config"]["noise_model"]["sigma"] == 7.5


@pytest.mark.parametrize(("argv", "message"), [
    (["--inference", "phases"], "inference mode 'phases' is not available for 'bsn'"),
    (["--noise-model", "gmm2"], "noise model kind 'gmm2' is not one method 'bsn' learns"),
    (["--noise-model", "impulse", "--noise-sigma", "5"],
     "a known noise sigma applies to a Gaussian noise model given instead of learned: "
     "method 'bsn' takes one with noise model ['gaussian'], not 'impulse'"),
    (["--noise-sigma", "-1"], "a known noise sigma must be > 0"),
    (["--noise-model", "impulse", "--noise-fit", "estimate"],
     "noise parameters estimated from the data and held: method 'bsn' takes them with "
     "noise model ['gaussian', 'poisson-gaussian'], not 'impulse'"),
    (["--noise-sigma", "5", "--noise-fit", "estimate"], "a known noise sigma is not estimated"),
    (["--noise-model", "impulse", "--noise-fit", "network"],
     "noise parameters estimated per image by an auxiliary network: method 'bsn' takes them "
     "with noise model ['gaussian', 'poisson-gaussian'], not 'impulse'"),
])
def test_refused_before_training(capsys, monkeypatch, noisy_tif: Path, tmp_path: Path,
                                 argv: list[str], message: str) -> None:
    calls = []
    monkeypatch.setattr(TrainingSession, "_step", lambda *a, **k: calls.append(1) or 0.0)
    rc, _, err = _run(capsys, "denoise", noisy_tif, "-o", tmp_path / "o.tif", *FAST, *argv)
    assert rc == 2 and message in err and len(err.splitlines()) == 1
    assert calls == [] and not (tmp_path / "o.tif").exists()


def test_noise_sigma_refused_for_other_methods(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    argv = [a if a != "bsn" else "nnet" for a in FAST]
    rc, _, err = _run(capsys, "denoise", noisy_tif, "-o", tmp_path / "o.tif", *argv,
                      "--noise-sigma", "5")
    assert rc == 2 and "known noise sigma" in err and "'nnet'" in err
    argv = [a if a != "bsn" else "n2v" for a in FAST]
    rc, _, err = _run(capsys, "denoise", noisy_tif, "-o", tmp_path / "o.tif", *argv,
                      "--noise-sigma", "5")
    assert rc == 2 and "'n2v' has no noise model; noise_sigma applies to" in err
    assert not (tmp_path / "o.tif").exists()
