"""Noise inspector: what the learned noise model says, against the measured residuals.

Pick an N-net model, the noisy layer and its denoised layer, and **Measure**: the residuals
``noisy - denoised`` are sampled once. A slider (or a click on the denoised layer) selects a
signal level; the upper plot shows the predicted density of the noise at that level (every
mixture component and their sum) over the histogram of residuals of pixels at that level. The
lower plot shows the predicted noise std against signal, the measured std per signal bin and
the fitted Poisson–Gaussian line ``variance = a·signal + b``. **Export…** writes the curve and
the fit as CSV and JSON.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
)

from ..core import (
    DISPLAY_MIN_FRACTION,
    ChannelModels,
    InputError,
    binned_std,
    describe_noise_model,
    estimate_noise_correlation,
    has_noise_model,
    noise_curve,
    noise_density,
    residuals_at,
    sample_residuals,
    validate_axes,
)
from ..io.outputs import write_curve_files
from ._common import JobRunner, JobWidget, LayerPicker
from ._layers import META_KEY, layer_data
from ._models import ModelChooser
from ._plots import ThemedPlot

SLIDER_STEPS = 200
N_BINS = 32


def measure(noisy, denoised, axes: str, *, stop):
    """Worker: sample residuals and bin them (a generator so it runs in a thread)."""
    layout = validate_axes(axes, tuple(noisy.shape))
    yield "sampling"
    signal, residual = sample_residuals(noisy, denoised, layout)
    centres, std, counts = binned_std(signal, residual, n_bins=N_BINS,
                                       min_fraction=DISPLAY_MIN_FRACTION)
    yield "correlation"
    return signal, residual, (centres, std, counts), estimate_noise_correlation(noisy, layout)


class NoiseInspector(JobWidget):
    """Dock widget: inspect a learned noise model against the image's residuals."""

    def __init__(self, napari_viewer) -> None:
        runner = JobRunner("Noise measurement", on_event=lambda _: None,
                           on_done=self._on_measured, on_finish=self._on_finish,
                           exclusive=False)
        super().__init__(runner)
        self.viewer = napari_viewer
        self.trained = None
        self.signal = self.residual = self.binned = self.correlation = None
        self.level: float | None = None
        self.report: dict | None = None
        self._clicked_layer = None
        self._build()
        self.models.refresh()

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        form = QFormLayout()
        lay.addLayout(form)
        self.models = ModelChooser(self.viewer)
        self.models.changed.connect(self._on_model_changed)
        form.addRow("Model", self.models)
        form.addRow(self.models.info)
        self.noisy_picker = LayerPicker(self.viewer)
        self.noisy_picker.currentTextChanged.connect(self._guess_denoised)
        form.addRow("Noisy", self.noisy_picker)
        self.denoised_picker = LayerPicker(self.viewer, suitable_only=False, prefer="result")
        form.addRow("Denoised", self.denoised_picker)
        row = QHBoxLayout()
        self.measure_button = QPushButton("Measure")
        self.measure_button.clicked.connect(self.start)
        self.export_button = QPushButton("Export…")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self._on_export_clicked)
        row.addWidget(self.measure_button)
        row.addWidget(self.export_button)
        lay.addLayout(row)
        self._build_plots(lay)
        self._guess_denoised()

    def _build_plots(self, lay: QVBoxLayout) -> None:
        """The signal-level slider, the density and curve plots and the fit line."""
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(self._on_slider)
        self.level_label = QLabel("Signal level: measure first, then drag or click the image")
        self.level_label.setWordWrap(True)
        lay.addWidget(self.level_label)
        lay.addWidget(self.slider)
        self.density_canvas = ThemedPlot(
            self.viewer, hint="Measure, then drag the slider\nor click the denoised image")
        self.curve_canvas = ThemedPlot(
            self.viewer, hint="Choose a model trained with a\nnoise model (its curve shows here)")
        for canvas in (self.density_canvas, self.curve_canvas):
            canvas.setMinimumHeight(170)
            lay.addWidget(canvas)
        self.acf_canvas = ThemedPlot(
            self.viewer, hint="Measure: the noise's autocorrelation\nis drawn here",
            figsize=(3.2, 1.8))
        self.acf_canvas.setMinimumHeight(150)
        lay.addWidget(self.acf_canvas)
        self.density_fig, self.density_ax = self.density_canvas.figure, self.density_canvas.ax
        self.curve_fig, self.curve_ax = self.curve_canvas.figure, self.curve_canvas.ax
        self.acf_fig, self.acf_ax = self.acf_canvas.figure, self.acf_canvas.ax
        self.acf_label = QLabel()
        self.acf_label.setWordWrap(True)
        lay.addWidget(self.acf_label)
        self.fit_label = QLabel()
        self.fit_label.setWordWrap(True)
        self.fit_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.fit_label)
        lay.addStretch(1)

    def _guess_denoised(self, *_) -> None:
        """Pre-select the result layer made from the chosen noisy layer."""
        noisy = self.noisy_picker.layer()
        if noisy is None:
            return
        best, best_score = None, 0
        for layer in self.denoised_picker.layers():
            meta = (layer.metadata or {}).get(META_KEY, {})
            if meta.get("source") == noisy.name and meta.get("role") == "denoised":
                score = 1 + (meta.get("model_path") == self.models.path())
                if score >= best_score:
                    best, best_score = layer, score
        if best is not None:
            self.denoised_picker.select(best)

    def _on_model_changed(self, path: str) -> None:
        self.trained = None
        self._guess_denoised()
        if not path:
            return
        try:
            trained = self.models.model()
        except InputError:
            return
        if not has_noise_model(trained):
            self.models.info.setText(self.models.info.text() + " — no noise model (use nnet)")
            return
        if isinstance(trained, ChannelModels):
            self.models.info.setText(self.models.info.text() + " — one model per channel: "
                                     "the inspector reads one model (train with one model "
                                     "for all channels to inspect it)")
            return
        self.trained = trained
        self._draw_curve()

    # -- measuring ------------------------------------------------------------------------
    def start(self, *_):
        """Sample the residuals of the chosen layers in a worker; returns it or None."""
        from napari.utils.notifications import show_error

        noisy, den = self.noisy_picker.layer(), self.denoised_picker.layer()
        try:
            if self.trained is None:
                raise InputError("choose a model trained with a noise model (method nnet)")
            if noisy is None or den is None:
                raise InputError("choose the noisy layer and its denoised layer")
            noisy_data, den_data = layer_data(noisy), layer_data(den)
            if tuple(noisy_data.shape) != tuple(den_data.shape):
                raise InputError("the noisy and denoised layers differ in shape")
            axes = (den.metadata or {}).get(META_KEY, {}).get("axes")
            if not axes or len(axes) != noisy.ndim:
                axes = self.trained.axes if noisy.ndim == len(self.trained.axes) else None
            layout = validate_axes(axes, tuple(noisy_data.shape)) if axes else None
            if layout is None or layout.channels != self.trained.channels:
                raise InputError("the layers do not match the model's axes and channels")
        except InputError as exc:
            show_error(f"Cannot measure: {exc}")
            self.level_label.setText(f"Cannot measure: {exc}")
            return None
        self._watch_clicks(den)
        worker = self.runner.start(measure, noisy_data, den_data, layout.axes)
        if worker is not None:
            self.measure_button.setEnabled(False)
            self.level_label.setText("Measuring residuals…")
        return worker

    def _on_measured(self, value) -> None:
        self.signal, self.residual, self.binned, self.correlation = value
        centres, std, counts = self.binned
        model_signal, model_std = noise_curve(self.trained, signal_range=(centres[0],
                                                                          centres[-1]))
        self.report = describe_noise_model(self.trained, model_signal, model_std)
        self.report["empirical"] = {"signal": centres.tolist(), "std": std.tolist(),
                                    "pixels": counts.astype(int).tolist()}
        self.report["noise_correlation_measured"] = self.correlation.to_dict()
        self._draw_correlation()
        self.slider.setEnabled(True)
        self.export_button.setEnabled(True)
        self._draw_curve()
        self.slider.setValue(SLIDER_STEPS // 3)
        self._on_slider(self.slider.value())

    def _on_finish(self) -> None:
        self.measure_button.setEnabled(True)

    # -- signal level ---------------------------------------------------------------------
    def _range(self) -> tuple[float, float]:
        centres = self.binned[0]
        return float(centres[0]), float(centres[-1])

    def _on_slider(self, value: int) -> None:
        if self.signal is None:
            return
        lo, hi = self._range()
        self.set_level(lo + (hi - lo) * value / SLIDER_STEPS, move_slider=False)

    def set_level(self, level: float, *, move_slider: bool = True) -> None:
        """Show the noise at signal ``level`` (input units)."""
        if self.signal is None or self.trained is None:
            return
        lo, hi = self._range()
        self.level = float(np.clip(level, lo, hi))
        if move_slider:
            self.slider.blockSignals(True)
            self.slider.setValue(round((self.level - lo) / max(hi - lo, 1e-12) * SLIDER_STEPS))
            self.slider.blockSignals(False)
        self._draw_density()

    def _watch_clicks(self, layer) -> None:
        """Clicking the denoised layer picks the signal level under the cursor."""
        if self._clicked_layer is not None and self._on_click in \
                self._clicked_layer.mouse_drag_callbacks:
            self._clicked_layer.mouse_drag_callbacks.remove(self._on_click)
        layer.mouse_drag_callbacks.append(self._on_click)
        self._clicked_layer = layer

    def _on_click(self, layer, event) -> None:
        value = layer.get_value(event.position, world=True)
        if value is not None and np.isfinite(value):
            self.set_level(float(value))

    # -- drawing --------------------------------------------------------------------------
    def _draw_density(self) -> None:
        ax = self.density_ax
        self.density_canvas.clear_axes()
        lo, hi = self._range()
        half = 0.5 * (hi - lo) / N_BINS
        res = residuals_at(self.signal, self.residual, self.level, half)
        dens = noise_density(self.trained, self.level, np.zeros(1))
        spread = 4.5 * dens["std"]
        grid = np.linspace(-spread, spread, 301)
        dens = noise_density(self.trained, self.level, grid)
        if res.size:
            ax.hist(res, bins=60, range=(-spread, spread), density=True, color="#9da3ad",
                    alpha=0.6, label=f"residuals ({res.size} px)")
        for k, comp in enumerate(dens["components"]):
            if len(dens["components"]) > 1:
                ax.plot(grid, comp, "--", lw=1.0, label=f"component {k + 1}")
        ax.plot(grid, dens["total"], color="#7aa6ff", lw=1.8, label="model")
        ax.set_xlabel("noisy − signal", fontsize=8)
        ax.set_ylabel("density", fontsize=8)
        self.density_canvas.legend(fontsize=6)
        self.level_label.setText(
            f"Signal level {self.level:.4g}: predicted std {dens['std']:.4g}, measured "
            f"{np.std(res) if res.size > 1 else float('nan'):.4g} ({res.size} pixels)")
        self.density_canvas.draw_idle()

    def _draw_correlation(self) -> None:
        """The noise's measured 2-D autocorrelation (lag 0 in the middle) and its extent."""
        corr = self.correlation
        acf = np.array(corr.acf, dtype=float)
        c = acf.shape[0] // 2
        shown = acf.copy()
        shown[c, c] = np.nan  # lag 0 is 1 by definition: keep the colour range for the rest
        ax = self.acf_ax
        self.acf_canvas.clear_axes()
        ax.imshow(shown, cmap="RdBu_r", vmin=-1, vmax=1, extent=(-c - 0.5, c + 0.5, c + 0.5,
                                                                  -c - 0.5))
        ax.set_xlabel("lag X (px)", fontsize=7)
        ax.set_ylabel("lag Y (px)", fontsize=7)
        ax.set_title("noise autocorrelation", fontsize=8)
        self.acf_canvas.restyle()
        self.acf_label.setText(corr.describe()[0].upper() + corr.describe()[1:] + ".")

    def _draw_curve(self) -> None:
        if self.trained is None:
            return
        ax = self.curve_ax
        self.curve_canvas.clear_axes()
        rng = self._range() if self.binned is not None else None
        signal, std = noise_curve(self.trained, signal_range=rng)
        ax.plot(signal, std, color="#7aa6ff", lw=1.8, label="model")
        if self.binned is not None:
            ax.plot(self.binned[0], self.binned[1], "o", color="#ffb347", ms=3,
                    label="residuals")
        if self.report is not None:
            a, b = self.report["a"], self.report["b"]
            ax.plot(signal, np.sqrt(np.clip(a * signal + b, 0, None)), ":", color="#d6d8db",
                    label="a·s + b fit")
            self.fit_label.setText(
                f"Poisson–Gaussian fit: variance = a·signal + b with a = {a:.4g} (gain), "
                f"b = {b:.4g} (read-noise variance − a × camera offset)")
        ax.set_xlabel("signal", fontsize=8)
        ax.set_ylabel("noise std", fontsize=8)
        self.curve_canvas.legend(fontsize=6)

    # -- export ---------------------------------------------------------------------------
    def export_to(self, folder: str | Path) -> list[Path]:
        """Write ``noise_curve.csv`` and ``noise_model.json`` into ``folder``."""
        if self.report is None or self.trained is None:
            raise InputError("measure first")
        lo, hi = self._range()
        signal, std = noise_curve(self.trained, n=64, signal_range=(lo, hi))
        return write_curve_files(folder, signal, std, self.report)

    def _on_export_clicked(self) -> None:  # pragma: no cover - modal dialog
        from napari.utils.notifications import show_error, show_info

        folder = QFileDialog.getExistingDirectory(self, "Export the noise model to")
        if not folder:
            return
        try:
            paths = self.export_to(folder)
            show_info("Wrote " + ", ".join(p.name for p in paths))
        except Exception as exc:  # noqa: BLE001 - reported to the user
            show_error(f"Export failed: {exc}")
