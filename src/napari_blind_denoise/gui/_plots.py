"""Live matplotlib plots inside dock widgets (no pyplot: a Figure on a Qt canvas)."""

from __future__ import annotations

import contextlib
import time

import numpy as np
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

# At most one redraw a second, whatever the step rate: an Agg redraw costs tens of ms of the
# GUI thread, which on a 2-core machine is taken from training (benchmarks/gui_overhead.py).
_REDRAW_SECONDS = 1.0


def theme_colours(name: str | None = None) -> dict[str, str]:
    """Background, text and edge colours of napari theme ``name`` (``None``: the theme in
    napari's settings; an unknown name: the default dark theme)."""
    from napari.utils.theme import get_theme

    if not name:
        from napari.settings import get_settings

        name = get_settings().appearance.theme
    try:
        theme = get_theme(name)
    except ValueError:
        theme = get_theme("dark")
    return {"background": theme.background.as_hex(), "text": theme.text.as_hex(),
            "edge": theme.icon.as_hex()}


class ThemedPlot(FigureCanvasQTAgg):
    """One matplotlib axes on a Qt canvas in the viewer's napari theme (and following its
    changes); while it has nothing to show, a centred ``hint`` says what to do."""

    def __init__(self, viewer=None, hint: str = "", figsize=(3.2, 2.0)) -> None:
        fig = Figure(figsize=figsize, dpi=90, layout="constrained")
        super().__init__(fig)
        self.ax = fig.add_subplot(111)
        self.hint = hint
        self._viewer = viewer
        self._hint_text = None
        if viewer is not None:
            viewer.events.theme.connect(self._on_theme)
        self.restyle()
        self.show_hint(True)

    def colours(self) -> dict[str, str]:
        """The current theme's colours."""
        return theme_colours(getattr(self._viewer, "theme", None))

    def _on_theme(self, *_) -> None:
        with contextlib.suppress(RuntimeError):  # the canvas was deleted with its dock
            self.restyle()

    def restyle(self) -> None:
        """Colour the figure, axes, ticks, labels, legend and hint like the theme."""
        c = self.colours()
        self.figure.patch.set_facecolor(c["background"])
        ax = self.ax
        ax.set_facecolor(c["background"])
        for spine in ax.spines.values():
            spine.set_color(c["edge"])
        ax.tick_params(colors=c["text"], labelsize=7)
        for text in (ax.xaxis.label, ax.yaxis.label, ax.title, *ax.texts):
            text.set_color(c["text"])
        legend = ax.get_legend()
        if legend is not None:
            legend.get_frame().set_facecolor(c["background"])
            legend.get_frame().set_edgecolor(c["edge"])
            for text in legend.get_texts():
                text.set_color(c["text"])
        self.draw_idle()

    def legend(self, **kwargs) -> None:
        """A small legend in the theme's colours."""
        self.ax.legend(fontsize=kwargs.pop("fontsize", 7), **kwargs)
        self.restyle()

    def clear_axes(self) -> None:
        """Empty the axes for a redraw (styled, no hint)."""
        self.ax.clear()
        self._hint_text = None
        self.restyle()

    def show_hint(self, show: bool) -> None:
        """Show or hide the line saying what to do."""
        if show and self.hint and self._hint_text is None:
            self._hint_text = self.ax.text(
                0.5, 0.5, self.hint, transform=self.ax.transAxes, ha="center", va="center",
                fontsize=8, color=self.colours()["text"])
        if self._hint_text is not None:
            self._hint_text.set_visible(show)


class LossPlot(ThemedPlot):
    """Masked-pixel MSE of training (every step) and validation (every ``val_every`` steps).

    The masked MSE is comparable across methods; likelihood losses (``nnet``) can be
    negative and drift after the signal has converged, so they are not what is plotted.
    """

    def __init__(self, viewer=None) -> None:
        super().__init__(viewer, hint="Press Train: the training and\n"
                                      "validation losses are drawn here")
        self.ax.set_xlabel("step", fontsize=8)
        self.ax.set_ylabel("masked MSE", fontsize=8)
        self.ax.set_yscale("log")
        (self.train_line,) = self.ax.plot([], [], color="#7aa6ff", lw=0.8, label="train")
        (self.val_line,) = self.ax.plot([], [], "o-", color="#ffb347", ms=2.5, lw=1.0,
                                        label="validation")
        self.legend(loc="upper right")
        self.setMinimumHeight(150)
        self.clear_data()

    def set_label(self, label: str) -> None:
        """The y axis' name: what the chosen method's plotted loss is
        (:attr:`~napari_blind_denoise.core.Method.loss_label`)."""
        self.ax.set_ylabel(label, fontsize=8)
        self._redraw(force=True)

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
        self.show_hint(not self.steps and not self.val_steps)
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


class NoisePlot(ThemedPlot):
    """Predicted noise standard deviation against signal (methods with a noise model).

    :meth:`set_curve` draws the model's curve during training; :meth:`set_empirical` adds the
    measured residual std per signal bin after training.
    """

    def __init__(self, viewer=None) -> None:
        super().__init__(viewer, hint="The learned noise model's std\n"
                                      "is drawn here during training")
        self.ax.set_xlabel("signal", fontsize=8)
        self.ax.set_ylabel("noise std", fontsize=8)
        (self.model_line,) = self.ax.plot([], [], color="#7aa6ff", lw=1.5, label="model")
        (self.empirical_line,) = self.ax.plot([], [], "o", color="#ffb347", ms=3,
                                              label="residuals")
        self.legend(loc="upper left")
        self.setMinimumHeight(150)
        self.n_updates = 0
        self._last_draw = 0.0

    def clear_data(self) -> None:
        """Empty both curves."""
        self.model_line.set_data([], [])
        self.empirical_line.set_data([], [])
        self.n_updates = 0
        self.show_hint(True)
        self.draw_idle()

    def set_curve(self, signal, std, force: bool = False) -> None:
        """Replace the model curve."""
        self.model_line.set_data(np.asarray(signal), np.asarray(std))
        self.show_hint(False)
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
        self.show_hint(False)
        self.ax.relim()
        self.ax.autoscale_view()
        self.draw_idle()
