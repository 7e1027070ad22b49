"""Live matplotlib plots inside dock widgets (no pyplot: a Figure on a Qt canvas)."""

from __future__ import annotations

import time

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

# At most one redraw a second, whatever the step rate: an Agg redraw costs tens of ms of the
# GUI thread, which on a 2-core machine is taken from training (benchmarks/gui_overhead.py).
_REDRAW_SECONDS = 1.0


def _style(fig: Figure, ax) -> None:
    fig.patch.set_facecolor("#262930")
    ax.set_facecolor("#262930")
    for spine in ax.spines.values():
        spine.set_color("#9da3ad")
    ax.tick_params(colors="#d6d8db", labelsize=7)
    ax.xaxis.label.set_color("#d6d8db")
    ax.yaxis.label.set_color("#d6d8db")
    ax.title.set_color("#d6d8db")


class LossPlot(FigureCanvasQTAgg):
    """Masked-pixel MSE of training (every step) and validation (every ``val_every`` steps).

    The masked MSE is comparable across methods; likelihood losses (``nnet``) can be
    negative and drift after the signal has converged, so they are not what is plotted.
    """

    def __init__(self) -> None:
        fig = Figure(figsize=(3.2, 2.0), dpi=90, layout="constrained")
        super().__init__(fig)
        self.ax = fig.add_subplot(111)
        _style(fig, self.ax)
        self.ax.set_xlabel("step", fontsize=8)
        self.ax.set_ylabel("masked MSE", fontsize=8)
        self.ax.set_yscale("log")
        (self.train_line,) = self.ax.plot([], [], color="#7aa6ff", lw=0.8, label="train")
        (self.val_line,) = self.ax.plot([], [], "o-", color="#ffb347", ms=2.5, lw=1.0,
                                        label="validation")
        self.ax.legend(fontsize=7, loc="upper right", facecolor="#262930",
                       labelcolor="#d6d8db", edgecolor="#9da3ad")
        self.setMinimumHeight(150)
        self.clear_data()

    def clear_data(self) -> None:
        """Forget all points (a new training run)."""
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.val_steps: list[int] = []
        self.val_losses: list[float] = []
        self._last_draw = 0.0
        self._redraw(force=True)

    def add(self, event) -> None:
        """Add one :class:`~napari_blind_denoise.core.events.TrainEvent`."""
        loss = event.mse if event.mse is not None else event.loss
        val = event.val_mse if event.val_mse is not None else event.val_loss
        if np.isfinite(loss) and loss > 0:
            self.steps.append(event.step)
            self.losses.append(loss)
        if val is not None and (not self.val_steps or self.val_steps[-1] != event.step):
            is_new = not self.val_losses or val != self.val_losses[-1]
            if is_new and val > 0:
                self.val_steps.append(event.step)
                self.val_losses.append(val)
        self._redraw(force=event.progress >= 1.0)

    def _redraw(self, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self._last_draw < _REDRAW_SECONDS:
            return
        self._last_draw = now
        self.train_line.set_data(self.steps, _smooth(self.losses))
        self.val_line.set_data(self.val_steps, self.val_losses)
        if self.steps:
            self.ax.relim()
            self.ax.autoscale_view()
        self.draw_idle()

    def flush(self) -> None:
        """Draw whatever arrived since the last redraw."""
        self._redraw(force=True)


def _smooth(values: list[float], window: int = 9) -> np.ndarray:
    """Running median over the last ``window`` steps (single-step losses are very noisy)."""
    v = np.asarray(values, np.float64)
    if v.size < 3:
        return v
    k = min(window, v.size)
    pad = np.concatenate([np.full(k - 1, v[0]), v])
    view = np.lib.stride_tricks.sliding_window_view(pad, k)
    return np.median(view, axis=1)


class NoisePlot(FigureCanvasQTAgg):
    """Predicted noise standard deviation against signal (methods with a noise model).

    :meth:`set_curve` draws the model's curve during training; :meth:`set_empirical` adds the
    measured residual std per signal bin after training.
    """

    def __init__(self) -> None:
        fig = Figure(figsize=(3.2, 2.0), dpi=90, layout="constrained")
        super().__init__(fig)
        self.ax = fig.add_subplot(111)
        _style(fig, self.ax)
        self.ax.set_xlabel("signal", fontsize=8)
        self.ax.set_ylabel("noise std", fontsize=8)
        (self.model_line,) = self.ax.plot([], [], color="#7aa6ff", lw=1.5, label="model")
        (self.empirical_line,) = self.ax.plot([], [], "o", color="#ffb347", ms=3,
                                              label="residuals")
        self.ax.legend(fontsize=7, loc="upper left", facecolor="#262930",
                       labelcolor="#d6d8db", edgecolor="#9da3ad")
        self.setMinimumHeight(150)
        self.n_updates = 0
        self._last_draw = 0.0

    def clear_data(self) -> None:
        """Empty both curves."""
        self.model_line.set_data([], [])
        self.empirical_line.set_data([], [])
        self.n_updates = 0
        self.draw_idle()

    def set_curve(self, signal, std, force: bool = False) -> None:
        """Replace the model curve."""
        self.model_line.set_data(np.asarray(signal), np.asarray(std))
        self.n_updates += 1
        now = time.perf_counter()
        if force or now - self._last_draw >= _REDRAW_SECONDS:
            self._last_draw = now
            self.ax.relim()
            self.ax.autoscale_view()
            self.draw_idle()

    def set_empirical(self, signal, std) -> None:
        """Overlay measured residual std per signal bin."""
        self.empirical_line.set_data(np.asarray(signal), np.asarray(std))
        self.ax.relim()
        self.ax.autoscale_view()
        self.draw_idle()
