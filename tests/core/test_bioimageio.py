"""BioImage.IO model packages: export, bioimageio.core's own test, import, round trip."""

from __future__ import annotations

import zipfile
from dataclasses import replace

import numpy as np
import pytest

from napari_blind_denoise.core import (
    BlendConfig,
    InputError,
    NormStats,
    NotExportable,
    TileConfig,
    TrainedModel,
    default_config,
    get_method,
    load_model,
    predict,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core import bioimageio as bio
from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.sample_data import load_sample

NEEDS_SPEC = pytest.mark.skipif(
    not bio.bioimageio_available(),
    reason="the [bioimageio] extra (bioimageio.spec) is not installed: "
           'pip install "napari-blind-denoise[bioimageio]"')


def _needs_core():
    pytest.importorskip("bioimageio.core", reason="bioimageio.core is not installed (it runs "
                        "the BioImage.IO test of a package; see docs/cli.md)")


def _tiny(method: str, steps: int = 20, blend: str = "off") -> TrainedModel:
    """A small model trained briefly on a 128x128 window of the sample (uint16); n2v and
    n2s without the blend with a filter by default (a package holds the network alone)."""
    noisy, _ = load_sample()
    cfg = default_config(method, "cpu", steps=steps, patch_size=32, batch_size=4,
                         val_patches=4, val_every=10)
    cfg = replace(cfg, model=ModelConfig(depth=2, base_channels=8))
    if method in ("n2v", "n2s"):
        cfg = replace(cfg, blend=BlendConfig(mode=blend))
    return run_to_completion(train(noisy[:128, :128], "YX", cfg, device="cpu"))


@pytest.fixture(scope="module")
def n2v_model():
    return _tiny("n2v")


@pytest.fixture(scope="module")
def n2v_package(n2v_model, tmp_path_factory):
    if not bio.bioimageio_available():
        pytest.skip("the [bioimageio] extra is not installed")
    noisy, _ = load_sample()
    path = tmp_path_factory.mktemp("bmz") / "n2v.zip"
    return bio.export_bioimageio(n2v_model, path, sample=noisy[128:384, 128:384],
                                 authors=("Test Author",))


def _predict(trained, image):
    return run_to_completion(predict(trained, image, "YX", tile=TileConfig.for_size(96),
                                     device="cpu"))


@NEEDS_SPEC
def test_export_writes_a_spec_0_5_package(n2v_package):
    from bioimageio.spec import load_model_description
    from bioimageio.spec.model import v0_5

    descr = load_model_description(str(n2v_package.path))
    assert isinstance(descr, v0_5.ModelDescr), descr
    assert descr.weights.torchscript is not None and descr.weights.pytorch_state_dict is not None
    steps = [p.id for p in descr.inputs[0].preprocessing if p.id != "ensure_dtype"]
    assert steps == ["scale_linear"]  # our normalisation, fixed: the training data's
    steps = [p.id for p in descr.outputs[0].postprocessing if p.id != "ensure_dtype"]
    assert steps == ["scale_linear", "clip"]  # its inverse, clipped to uint16
    assert [str(a.id) for a in descr.inputs[0].axes] == ["batch", "channel", "y", "x"]
    assert any(c.doi and "CVPR.2019.00223" in str(c.doi) for c in descr.cite)
    assert descr.covers and descr.documentation is not None
    assert descr.config.model_extra["napari_blind_denoise"]["method"] == "n2v"
    with zipfile.ZipFile(n2v_package.path) as zf:
        assert {"rdf.yaml", "cover.png", "test_input.npy", "test_output.npy"} <= set(
            zf.namelist())


@NEEDS_SPEC
def test_package_passes_the_bioimageio_test(n2v_package):
    """bioimageio.core's own test: both weight formats reproduce the test output on CPU."""
    _needs_core()
    result = bio.test_package(n2v_package.path)
    assert result["status"] == "passed", result["failed"]


@NEEDS_SPEC
def test_round_trip_predicts_like_our_checkpoint(n2v_model, n2v_package, tmp_path):
    """export -> import -> the same prediction as our own checkpoint, on an image of
    another size (not a multiple of the network's divisor) than the test input."""
    noisy, _ = load_sample()
    image = noisy[200:330, 50:253]  # 130 x 203, never seen in training
    ours = _predict(load_model(save_model(n2v_model, tmp_path / "ckpt")), image)
    imported = load_model(n2v_package.path)
    assert imported.method == "bioimageio" and imported.info["bioimageio"]["method"] == "n2v"
    theirs = _predict(imported, image)
    assert theirs.shape == ours.shape == image.shape
    span = float(np.ptp(ours))
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-4 * span)
    assert np.abs(theirs - image).mean() > 0.01 * span  # it denoised: not the identity


@NEEDS_SPEC
@pytest.mark.parametrize("method", ["n2s", "nnet"])
def test_other_one_pass_methods_export_and_reimport(method, tmp_path):
    trained = _tiny(method, steps=10)
    done = bio.export_bioimageio(trained, tmp_path / f"{method}.zip")
    if method == "nnet":
        assert "N-net" in done.note  # the package holds the denoiser only
    noisy, _ = load_sample()
    image = noisy[:96, :160]
    ours = _predict(trained, image)
    theirs = _predict(load_model(done.path), image)
    np.testing.assert_allclose(theirs, ours, rtol=0, atol=1e-4 * float(np.ptp(ours)))


@pytest.mark.parametrize("method", ["s2s", "bsn"])
def test_methods_without_one_plain_pass_are_refused(method, tmp_path):
    config = default_config(method, "cpu")
    config = replace(config, mask=replace(config.mask, blind_spot="pixel"))  # as adapted
    spec = get_method(method)
    trained = TrainedModel(spec.network(config), config,
                           NormStats(low=(0.0,), high=(1.0,)), "YX")
    with pytest.raises(NotExportable, match="not one plain pass"):
        bio.export_bioimageio(trained, tmp_path / "x.zip")
    assert not (tmp_path / "x.zip").exists()


def test_missing_extra_is_reported(monkeypatch, n2v_model, tmp_path):
    monkeypatch.setattr(bio, "bioimageio_available", lambda: False)
    with pytest.raises(InputError, match=r"\[bioimageio\]"):
        bio.export_bioimageio(n2v_model, tmp_path / "x.zip")


@NEEDS_SPEC
def test_foreign_file_is_not_replaced(n2v_model, tmp_path):
    target = tmp_path / "model.zip"
    target.write_bytes(b"someone else's file")
    with pytest.raises(Exception, match="did not write"):
        bio.export_bioimageio(n2v_model, target)
    assert target.read_bytes() == b"someone else's file"


@NEEDS_SPEC
def test_image_dependent_processing_is_refused(n2v_package, tmp_path):
    """A package whose input is normalised by each image's percentiles cannot be tiled."""
    from bioimageio.spec import load_model_description, save_bioimageio_package
    from bioimageio.spec.model import v0_5

    descr = load_model_description(str(n2v_package.path))
    ipt = descr.inputs[0]
    scale_range = v0_5.ScaleRangeDescr(kwargs=v0_5.ScaleRangeKwargs(
        axes=[v0_5.AxisId("y"), v0_5.AxisId("x")], min_percentile=1, max_percentile=99))
    changed = descr.model_copy(update={"inputs": [ipt.model_copy(
        update={"preprocessing": [ipt.preprocessing[0], scale_range]})]})
    path = save_bioimageio_package(changed, output_path=tmp_path / "percentiles.zip")
    with pytest.raises(Exception, match="scale_range"):
        load_model(path)


def test_a_blended_model_exports_its_network_and_says_so() -> None:
    """The blend with a calibrated filter is not in a model package: the export says that
    the package holds the network alone, and what the blend is."""
    trained = _tiny("n2s", steps=4, blend="auto")
    blend = trained.config.blend
    trained.config = replace(trained.config, blend=replace(
        blend, filter="gaussian", params={"sigma": 1.5}, weight=0.6))  # whatever it measured
    note = get_method("n2s").export_network(trained).note
    assert "network alone" in note and "Gaussian blur" in note and "0.60" in note
