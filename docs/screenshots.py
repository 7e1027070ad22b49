"""Regenerate the widget screenshots in docs/images/ (needs a display; headless use Xvfb).

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots.py
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python docs/screenshots.py 20 n2n  # one

Each screenshot shows a dock widget in use on the embedded sample: training with its live
loss plot, applying the trained model, and comparing the result with the clean reference.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import napari
from qtpy.QtWidgets import QApplication

OUT = Path(__file__).resolve().parent / "images"
PLUGIN = "napari-blind-denoise"


def wait_until(predicate, timeout: float = 600.0) -> None:
    """Run the Qt event loop until ``predicate()`` is true."""
    t0 = time.monotonic()
    while not predicate():
        QApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() - t0 > timeout:
            raise TimeoutError("timed out")
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.01)


def show_all(viewer) -> None:
    """Fit every visible layer in the canvas once the layout has settled."""
    wait_until(lambda: True)
    viewer.reset_view()
    wait_until(lambda: True)


def shoot(viewer, name: str) -> None:
    """Save the whole window (canvas and docks)."""
    OUT.mkdir(parents=True, exist_ok=True)
    viewer.window.screenshot(str(OUT / name), flash=False, canvas_only=False)
    print("wrote", OUT / name)


def main(time_limit: int = 30) -> int:
    """Train, apply and compare on the sample, taking a screenshot after each step."""
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample(PLUGIN, "noisy_nuclei")
    noisy = viewer.layers["nuclei noisy"]

    dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    train.layer_picker.select(noisy)
    train.time_limit.setValue(time_limit)
    train.start_training()
    wait_until(lambda: not train.runner.running)
    for layer in viewer.layers:
        layer.visible = layer.name in ("nuclei noisy", "nuclei noisy denoised")
    viewer.canvas.grid.enabled = True
    show_all(viewer)
    shoot(viewer, "train_widget.png")
    viewer.canvas.grid.enabled = False

    viewer.window.remove_dock_widget(dock)
    dock, apply = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (apply model)")
    crop = viewer.add_image(noisy.data[128:384, 128:384], name="nuclei crop",
                            translate=(128, 128), contrast_limits=noisy.contrast_limits)
    apply.layer_picker.select(crop)
    apply.start()
    wait_until(lambda: not apply.runner.running)
    for layer in viewer.layers:
        layer.visible = layer.name in ("nuclei noisy", "nuclei crop denoised")
    show_all(viewer)
    shoot(viewer, "apply_widget.png")

    viewer.window.remove_dock_widget(dock)
    dock, compare = viewer.window.add_plugin_dock_widget(PLUGIN, "Compare to ground truth")
    compare.result_picker.select(viewer.layers["nuclei noisy denoised"])
    compare.reference_picker.select(viewer.layers["nuclei clean (reference)"])
    compare.start()
    wait_until(lambda: not compare.runner.running)
    for layer in viewer.layers:
        layer.visible = layer.name == "nuclei noisy denoised"
    shoot(viewer, "compare_widget.png")
    print(compare.status.text())
    viewer.window.remove_dock_widget(dock)
    noise_model_shots(viewer, noisy, time_limit)
    n2n_shot(viewer, noisy, time_limit)
    viewer.close()
    return 0


def n2n_only(time_limit: int) -> int:
    """Only the Noise2Noise screenshot, in a viewer of its own."""
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    viewer.open_sample(PLUGIN, "noisy_nuclei")
    n2n_shot(viewer, viewer.layers["nuclei noisy"], time_limit)
    viewer.close()
    return 0


def n2n_shot(viewer, noisy, time_limit: int) -> None:
    """Noise2Noise on the sample and a second acquisition of it: the same camera model
    (``sample_data.simulate_camera``) drawn with another seed (8)."""
    import numpy as np

    from napari_blind_denoise.sample_data import GAIN, OFFSET, READ_NOISE

    expected = np.asarray(viewer.layers["nuclei clean (reference)"].data, np.float64)
    rng = np.random.default_rng(8)
    photons = np.clip((expected - OFFSET) / GAIN, 0, None)
    second = OFFSET + GAIN * rng.poisson(photons) + rng.normal(0.0, READ_NOISE, photons.shape)
    pair = viewer.add_image(second.astype(np.float32), name="nuclei second acquisition",
                            contrast_limits=noisy.contrast_limits)
    dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    train.method.setCurrentIndex(train.method.findData("n2n"))
    train.layer_picker.select(noisy)
    train.extra_inputs["pair"][1].select(pair)
    train.time_limit.setValue(time_limit)
    before = set(viewer.layers)
    train.start_training()
    wait_until(lambda: not train.runner.running)
    shown = {noisy, pair, *(set(viewer.layers) - before)}
    for layer in viewer.layers:
        layer.visible = layer in shown
    viewer.canvas.grid.enabled = True
    show_all(viewer)
    shoot(viewer, "train_n2n_widget.png")
    print(train.status.text())
    viewer.canvas.grid.enabled = False
    viewer.window.remove_dock_widget(dock)


def noise_model_shots(viewer, noisy, time_limit: int) -> None:
    """N-net training with its live noise plot, then the noise inspector."""
    dock, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise (train)")
    train.method.setCurrentIndex(train.method.findData("nnet"))
    train.noise_kind.setCurrentIndex(train.noise_kind.findData("gmm3"))
    train.layer_picker.select(noisy)
    train.time_limit.setValue(time_limit)
    train.start_training()
    wait_until(lambda: not train.runner.running)
    for layer in viewer.layers:
        layer.visible = layer.name in ("nuclei noisy noise std", "nuclei noisy residual")
    viewer.canvas.grid.enabled = True
    show_all(viewer)
    shoot(viewer, "train_nnet_widget.png")
    print(train.status.text())
    viewer.window.remove_dock_widget(dock)
    _, insp = viewer.window.add_plugin_dock_widget(PLUGIN, "Noise inspector")
    insp.models.combo.setCurrentIndex(0)
    insp.noisy_picker.select(noisy)
    insp.start()
    wait_until(lambda: not insp.runner.running)
    insp.set_level(float(noisy.contrast_limits[0] + 0.5 * (noisy.contrast_limits[1]
                                                          - noisy.contrast_limits[0])))
    for layer in viewer.layers:
        layer.visible = layer.name in ("nuclei noisy", "nuclei noisy denoised")
    wait_until(lambda: True)
    shoot(viewer, "noise_inspector.png")
    print(insp.fit_label.text())
    viewer.canvas.grid.enabled = False


if __name__ == "__main__":
    if sys.argv[2:] == ["n2n"]:
        sys.exit(n2n_only(int(sys.argv[1])))
    sys.exit(main(*map(int, sys.argv[1:])))
