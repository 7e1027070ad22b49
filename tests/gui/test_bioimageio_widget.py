"""The apply widget and BioImage.IO packages: export the chosen model, apply a package."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from napari_blind_denoise.core import (
    BlendConfig,
    TileConfig,
    bioimageio_available,
    default_config,
    load_model,
    predict,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.config import ModelConfig

pytestmark = [pytest.mark.gui, pytest.mark.skipif(
    not bioimageio_available(), reason="the [bioimageio] extra (bioimageio.spec) is not "
    'installed: pip install "napari-blind-denoise[bioimageio]"')]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A small N2V model trained briefly on a window of the sample."""
    from napari_blind_denoise.sample_data import load_sample

    noisy, _ = load_sample()
    cfg = default_config("n2v", "cpu", steps=20, patch_size=32, batch_size=4, val_patches=4,
                         val_every=10)
    # a package holds the network alone: no blend with a calibrated filter
    cfg = replace(cfg, model=ModelConfig(depth=2, base_channels=8),
                  blend=BlendConfig(mode="off"))
    trained = run_to_completion(train(noisy[:128, :128], "YX", cfg))
    return save_model(trained, tmp_path_factory.mktemp("models") / "nuclei-n2v")


def test_export_button_then_apply_the_package(viewer, sample, apply_widget, small_model,
                                              qtbot, tmp_path):
    noisy, _ = sample
    apply_widget.add_model_path(small_model)
    assert apply_widget.export_button.isEnabled()
    package = tmp_path / "nuclei-n2v.zip"
    assert apply_widget.export_to(package) is not None
    qtbot.waitUntil(lambda: not apply_widget.exporter.running, timeout=120_000)
    assert package.is_file(), apply_widget.status.text()
    assert "Wrote" in apply_widget.status.text()

    apply_widget.add_model_path(package)
    assert "BioImage.IO package" in apply_widget.model_info.text()
    apply_widget.layer_picker.select(noisy)
    worker = apply_widget.start()
    assert worker is not None, apply_widget.status.text()
    qtbot.waitUntil(lambda: not apply_widget.runner.running, timeout=120_000)
    out = np.asarray(viewer.layers["nuclei noisy denoised"].data[:])
    ours = run_to_completion(predict(load_model(small_model), noisy.data, "YX",
                                     tile=TileConfig.for_size(512), device="cpu"))
    np.testing.assert_allclose(out, ours, rtol=0, atol=1e-4 * float(np.ptp(ours)))
