"""Compare to ground truth dock."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core.metrics import score
from tests.gui.conftest import run_job

pytestmark = pytest.mark.gui


def test_scores_match_the_core(viewer, sample, qtbot):
    noisy, clean = sample
    _, widget = viewer.window.add_plugin_dock_widget("napari-blind-denoise",
                                                     "Compare to ground truth")
    widget.result_picker.select(noisy)
    widget.reference_picker.select(clean)
    run_job(qtbot, widget, widget.start)
    expected = score(np.asarray(noisy.data, np.float64), np.asarray(clean.data, np.float64))
    assert widget.scores == pytest.approx(expected)
    assert widget.table.item(0, 0).text() == f"{expected['psnr']:.2f}"
    assert widget.table.item(1, 1).text() == f"{expected['ssim_fit']:.4f}"


def test_shape_mismatch_refused(viewer, sample, notifications):
    _, widget = viewer.window.add_plugin_dock_widget("napari-blind-denoise",
                                                     "Compare to ground truth")
    viewer.add_image(np.zeros((64, 64), np.float32), name="small")
    widget.result_picker.select(viewer.layers["small"])
    widget.reference_picker.select(sample[1])
    assert widget.start() is None
    assert any(level == "error" and "differ in shape" in m for level, m in notifications)
