"""What the napari widget costs: training speed through the widget vs the core, and how
responsive the GUI stays meanwhile. Needs a display (headless: Xvfb).

    xvfb-run -a .venv/bin/python benchmarks/gui_overhead.py --steps 300 --repeats 2

Prints one table row per run: steps per second of the core alone (no GUI), of the same
training through the Denoise (train) dock (worker thread, live plot, progress), and the longest
pause of a 20 ms QTimer in the GUI thread while the widget trained.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

from napari_blind_denoise.core import default_config, train
from napari_blind_denoise.core.train import run_to_completion
from napari_blind_denoise.sample_data import load_sample


def core_rate(noisy: np.ndarray, steps: int, method: str) -> float:
    """Steps per second of the core training loop alone."""
    cfg = default_config(method, "cpu", steps=steps)
    trained = run_to_completion(train(noisy, "YX", cfg))
    return trained.info["steps"] / trained.info["train_seconds"]


def widget_rate(noisy: np.ndarray, steps: int, method: str) -> tuple[float, float, float]:
    """``(steps/s, longest GUI pause in s, timer ticks per s)`` through the dock widget."""
    import napari
    from qtpy.QtCore import QEventLoop, QTimer

    viewer = napari.Viewer(show=True)
    layer = viewer.add_image(noisy, name="noisy")
    _, w = viewer.window.add_plugin_dock_widget("napari-blind-denoise", "Denoise (train)")
    w.output.edit.setText(tempfile.mkdtemp(prefix="bd-gui-bench-"))
    w.method.setCurrentIndex(w.method.findData(method))
    w.layer_picker.select(layer)
    w.time_limit.setValue(0)
    w.steps.setValue(steps)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start(20)
    ends: list[float] = []
    loop = QEventLoop()
    worker = w.start_training()
    worker.yielded.connect(lambda ev: ends.append(time.perf_counter())
                           if type(ev).__name__ == "Phase" and not ends else None)
    worker.finished.connect(loop.quit)
    loop.exec()  # the GUI thread idles in Qt's event loop, as in napari
    timer.stop()
    t_end = ends[0] if ends else time.perf_counter()
    info = w.trained.info
    during = np.array([t for t in ticks if t <= t_end])
    gap = float(np.diff(during).max()) if during.size > 1 else float("nan")
    rate = during.size / max(1e-9, during[-1] - during[0]) if during.size > 1 else 0.0
    viewer.close()
    return info["steps"] / info["train_seconds"], gap, rate


def main() -> None:
    """Run the comparison and print a table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--method", default="n2v")
    args = p.parse_args()
    noisy, _ = load_sample()
    print(f"| run | core steps/s | widget steps/s | widget/core | longest GUI pause (s) "
          f"| timer ticks/s (20 ms timer) |  ({args.method}, {args.steps} steps)")
    print("|---|---|---|---|---|---|")
    for r in range(args.repeats):
        c = core_rate(noisy, args.steps, args.method)
        g, gap, tick_rate = widget_rate(noisy, args.steps, args.method)
        print(f"| {r + 1} | {c:.2f} | {g:.2f} | {g / c:.2f} | {gap:.3f} | {tick_rate:.1f} |",
              flush=True)


if __name__ == "__main__":
    main()
