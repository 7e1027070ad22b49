"""Fixtures for the widget tests: a shown viewer (Xvfb), the sample, the dock widgets."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytest.importorskip("pytestqt")

PLUGIN = "napari-blind-denoise"


@pytest.fixture
def viewer(make_napari_viewer):
    """A napari viewer shown on the (virtual) display."""
    return make_napari_viewer(show=True)


@pytest.fixture
def sample(viewer):
    """The embedded sample opened through File > Open Sample: ``(noisy, clean)`` layers."""
    viewer.open_sample(PLUGIN, "noisy_nuclei")
    return viewer.layers["nuclei noisy"], viewer.layers["nuclei clean (reference)"]


@pytest.fixture
def train_widget(viewer, tmp_path):
    """The Denoise (train) dock with a tiny, fast setting and results under ``tmp_path``."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    widget.output.edit.setText(str(tmp_path / "results"))
    widget.time_limit.setValue(0)
    widget.steps.setValue(40)
    widget.patch_size.setValue(48)
    widget.batch_size.setValue(8)
    return widget


@pytest.fixture
def apply_widget(viewer, tmp_path):
    """The Denoise (apply model) dock writing under ``tmp_path``."""
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (apply model)")
    widget.output.edit.setText(str(tmp_path / "applied"))
    return widget


@pytest.fixture
def notifications(monkeypatch):
    """Messages passed to napari's show_error / show_warning / show_info."""
    import napari.utils.notifications as nt

    seen: list[tuple[str, str]] = []
    for level in ("error", "warning", "info"):
        monkeypatch.setattr(nt, f"show_{level}",
                            lambda msg, _level=level: seen.append((_level, str(msg))))
    return seen


def run_job(qtbot, widget, start, timeout=120_000):
    """Start a job through ``start()`` and wait until the worker has finished."""
    worker = start()
    assert worker is not None, widget.status.text()
    qtbot.waitUntil(lambda: not widget.runner.running, timeout=timeout)
    return worker


def psnr_vs(data, clean) -> float:
    from napari_blind_denoise.core.metrics import psnr

    return psnr(np.asarray(data, np.float64), np.asarray(clean, np.float64))
