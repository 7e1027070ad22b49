"""Adding a method is one module plus one registry line: the test-only method trains,
predicts, saves and loads, and appears in the CLI with its extra output, untouched code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from napari_blind_denoise.cli import main
from napari_blind_denoise.core import (
    METHODS,
    InputError,
    Method,
    TrainingSession,
    default_config,
    load_model,
    predict,
    psnr,
    register,
    run_to_completion,
    save_model,
    train,
    unregister,
)
from napari_blind_denoise.core.methods import Batch
from tests.conftest import make_blobs
from tests.core.methods.identity_blind_spot import IdentityBlindSpot


@pytest.fixture
def ibs():
    method = register(IdentityBlindSpot())
    yield method
    unregister(method.id)


@pytest.fixture
def noisy_clean():
    clean = make_blobs((96, 96), seed=4) * 100.0
    noisy = clean + np.random.default_rng(0).normal(0, 20.0, clean.shape).astype(np.float32)
    return noisy.astype(np.float32), clean


def test_registered_and_removed(ibs) -> None:
    assert METHODS["ibs-test"] is ibs
    unregister("ibs-test")
    assert "ibs-test" not in METHODS
    with pytest.raises(ValueError, match="unknown method 'ibs-test'"):
        default_config("ibs-test")


def test_register_twice_refused(ibs) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register(IdentityBlindSpot())


def test_trains_predicts_and_round_trips(ibs, noisy_clean, tmp_path: Path) -> None:
    noisy, clean = noisy_clean
    config = default_config("ibs-test", steps=60, patch_size=32, batch_size=8, val_every=20)
    trained = run_to_completion(train(noisy, "YX", config))
    out = run_to_completion(predict(trained, noisy, "YX"))
    # a mean of neighbours it learned: much better than the noisy input, never the identity
    assert psnr(out, clean) > psnr(noisy, clean) + 5.0
    assert not np.allclose(out, noisy)
    loaded = load_model(save_model(trained, tmp_path / "model"))
    assert loaded.spec is ibs
    np.testing.assert_allclose(run_to_completion(predict(loaded, noisy, "YX")), out,
                               rtol=1e-5, atol=1e-4)


def test_in_cli_choices_with_its_output_flag(ibs, noisy_clean, tmp_path: Path,
                                             capsys) -> None:
    with pytest.raises(SystemExit):
        main(["denoise", "--help"])
    help_text = capsys.readouterr().out
    # a group of one image: a .tif path or a folder
    assert "ibs-test" in help_text and "--spread-out PATH" in help_text
    noisy, _ = noisy_clean
    src = tmp_path / "noisy.tif"
    tifffile.imwrite(src, noisy)
    rc = main(["denoise", str(src), "-o", str(tmp_path / "out.tif"), "--method", "ibs-test",
               "--steps", "5", "--patch-size", "32", "--spread-out", str(tmp_path / "s"),
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    spread = tifffile.imread(tmp_path / "s" / "spread.tif")
    out = tifffile.imread(tmp_path / "out.tif")
    np.testing.assert_allclose(spread, np.abs(noisy - out), atol=1e-3)


def test_other_methods_refuse_its_output_flag(ibs, noisy_clean, tmp_path: Path,
                                              capsys) -> None:
    src = tmp_path / "noisy.tif"
    tifffile.imwrite(src, noisy_clean[0])
    rc = main(["denoise", str(src), "-o", str(tmp_path / "out.tif"), "--method", "n2v",
               "--spread-out", str(tmp_path / "s")])
    assert rc == 2
    assert "--spread-out needs a method with spread outputs (ibs-test), not n2v" in (
        capsys.readouterr().err)


class PairedTest(Method):
    """Test-only Noise2Noise-like method: input one acquisition, target the other."""

    id = "pairs-test"
    name = "Paired acquisitions (test only)"
    inputs = 2

    def batch_maker(self, config):
        def make(sources, generator):
            a, b = sources
            return Batch(a, b, torch.ones_like(a))

        return make


def test_a_method_may_train_on_pairs(noisy_clean) -> None:
    noisy, clean = noisy_clean
    second = (clean + np.random.default_rng(9).normal(0, 20.0, clean.shape)).astype(np.float32)
    method = register(PairedTest())
    try:
        config = default_config("pairs-test", steps=80, patch_size=32, batch_size=8)
        with pytest.raises(InputError, match="trains on 2 noisy array"):
            TrainingSession(noisy, "YX", config)
        with pytest.raises(InputError, match="differ in shape"):
            TrainingSession((noisy, second[:64]), "YX", config)
        trained = run_to_completion(train((noisy, second), "YX", config))
        assert trained.spec is method
        out = run_to_completion(predict(trained, noisy, "YX"))
        assert psnr(out, clean) > psnr(noisy, clean) + 3.0
    finally:
        unregister("pairs-test")
