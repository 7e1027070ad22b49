"""Denoise (train): pick a layer and a method, train in the background, get a new layer."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from ..core import (
    AUTO_MIN_DEPTH,
    METHODS,
    PRESETS,
    BlendConfig,
    InputError,
    Phase,
    PipelineResult,
    PredictEvent,
    PreviewOptions,
    TileConfig,
    TrainEvent,
    TrainingSession,
    default_config,
    exclude_pixels,
    get_method,
    is_model_folder,
    neighbour_frames,
    save_model,
)
from ..core.methods.blend import describe as describe_blend
from ._cache_widget import CacheRow
from ._common import (
    DeviceChooser,
    FolderField,
    JobRunner,
    JobWidget,
    LayerPicker,
    memory_budget_box,
    memory_budget_value,
    progress_widgets,
)
from ._layers import default_axes, layer_data, layer_spacing, read_layer
from ._live import LiveLayer
from ._plots import LossPlot, NoisePlot
from ._preview import PreviewLayer
from ._results import add_outputs, show_warnings, summary_text
from ._workers import train_and_predict

PRESET_LABELS = {"cpu": "Fast CPU", "gpu": "Quality GPU"}
# the first entry is the default; it matches NoiseModelConfig's default kind (measured best)
NOISE_LABELS = {"gaussian": "Gaussian", "gmm2": "Gaussian mixture, 2 components",
                "gmm3": "Gaussian mixture, 3 components",
                "poisson-gaussian": "Poisson–Gaussian (variance a·signal + b, estimated "
                                    "from the image)"}
STATUS_SECONDS = 0.1  # progress bar and status line refresh at most ten times a second
DEFAULT_TIME_LIMIT = 60  # seconds: a demo-sized run on a laptop CPU
# live preview: a 128-pixel crop every 5 s of training (or less often when it costs more
# than a tenth of the time, core/preview.py)
PREVIEW = PreviewOptions(seconds=5.0, size=128)
BLIND_SPOTS = ("auto", "pixel", "3x3", "3x5", "5x3", "3x7", "5x5", "7x7", "1x5", "5x1")
DOWNSAMPLES = ("1", "auto", "2", "3", "4")  # the method's own default is selected
DIMS = (("auto", "auto"), ("2-D (plane by plane)", 2), ("3-D (volumes)", 3))


def _clock(seconds: float) -> str:
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def _spin(lo: int, hi: int, value: int, step: int = 1, suffix: str = "") -> QSpinBox:
    box = QSpinBox()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setValue(value)
    if suffix:
        box.setSuffix(suffix)
    return box


def _losses(event: TrainEvent) -> str:
    """``loss …, validation …``; for likelihood training also the masked MSE."""
    if event.mse is None or event.mse == event.loss:
        val = f", validation {event.val_loss:.4g}" if event.val_loss is not None else ""
        return f"loss {event.loss:.4g}{val}"
    val = f", validation MSE {event.val_mse:.4g}" if event.val_mse is not None else ""
    return f"NLL {event.loss:.4g}, masked MSE {event.mse:.4g}{val}"


NO_EXCLUSION = "(none)"


# the widget's test-time augmentation choices (TileConfig.tta), the default first
TTA_CHOICES = {"auto": "auto", "on": True, "off": False}

class TrainWidget(JobWidget):
    """Dock widget: train a self-supervised denoiser on a layer and add the denoised layer."""

    def __init__(self, napari_viewer) -> None:
        runner = JobRunner("Training", on_event=self._on_event, on_done=self._on_done,
                           on_finish=self._on_finish)
        super().__init__(runner, live=LiveLayer(napari_viewer))
        self.viewer = napari_viewer
        self.session: TrainingSession | None = None
        self.trained = None
        self.result: PipelineResult | None = None
        self._phase, self._phase_label = "idle", ""
        self._last_status = 0.0
        self.preview_options = PREVIEW  # when and how big (tests shorten it)
        self._preview = PreviewLayer(napari_viewer)
        self._axes = ""
        self._build()
        self._on_layer_changed()
        self._on_method_changed()
        self._apply_preset()
        # a method may adapt the presets (s2s has its own)
        self.method.currentIndexChanged.connect(self._method_changed)

    # -- layout ---------------------------------------------------------------------------
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.addLayout(self._build_form())
        lay.addWidget(self._build_advanced())
        self.output = FolderField()
        form2 = QFormLayout()
        form2.addRow("Output folder", self.output)
        self.cache = CacheRow(self.viewer)
        form2.addRow(self.cache)
        lay.addLayout(form2)
        lay.addLayout(self._build_buttons())
        self.progress, self.status = progress_widgets()
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setToolTip("What training chose from the data, and warnings about the result")
        lay.addWidget(self.notice)
        self.loss_plot = LossPlot(self.viewer)
        lay.addWidget(self.loss_plot)
        self.noise_plot = NoisePlot(self.viewer)
        lay.addWidget(self.noise_plot)
        self.save_button = QPushButton("Save model…")
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._on_save_clicked)
        lay.addWidget(self.save_button)
        lay.addStretch(1)

    def _build_form(self) -> QFormLayout:
        form = QFormLayout()
        self.layer_picker = LayerPicker(self.viewer)
        self.layer_picker.currentTextChanged.connect(self._on_layer_changed)
        form.addRow("Image", self.layer_picker)
        self.axes = QLineEdit()
        self.axes.setToolTip("Axes of the layer, e.g. YX, ZYX, TYX, CYX, TZYX. Leave empty to "
                             "use the detected axes shown in grey.")
        form.addRow("Axes", self.axes)
        self.method = QComboBox()
        for method in METHODS.values():
            self.method.addItem(f"{method.name} ({method.id})", method.id)
        self.method.currentIndexChanged.connect(self._on_method_changed)
        form.addRow("Method", self.method)
        self.method_info = QLabel()
        self.method_info.setWordWrap(True)
        form.addRow(self.method_info)
        self._build_extra_inputs(form)
        self.noise_kind = QComboBox()
        self.noise_kind.setToolTip("Distribution of the noise given the signal, learned per "
                                   "pixel value: one Gaussian, or a mixture of 2 or 3 "
                                   "(skewed noise such as low-count Poisson); bsn's "
                                   "Poisson–Gaussian a, b are estimated from the image when "
                                   "training starts and held (CLI: --noise-fit)")
        self.noise_kind_label = QLabel("Noise model")
        form.addRow(self.noise_kind_label, self.noise_kind)
        self.device = DeviceChooser()
        form.addRow("Device", self.device)
        self.preset = QComboBox()
        for key in PRESETS:
            self.preset.addItem(PRESET_LABELS.get(key, key), key)
        self.preset.setCurrentIndex(self.preset.findData("gpu" if self.device.accelerated()
                                                         else "cpu"))
        self.preset.currentIndexChanged.connect(self._apply_preset)
        form.addRow("Preset", self.preset)
        self.time_limit = _spin(0, 7 * 24 * 3600, DEFAULT_TIME_LIMIT, 10, " s")
        self.time_limit.setSpecialValueText("no limit")
        self.time_limit.setToolTip("Stop training after this long (0: only the step limit)")
        form.addRow("Time limit", self.time_limit)
        self.steps = _spin(1, 10_000_000, 1500, 100)
        form.addRow("Max steps", self.steps)
        self.live_preview = QCheckBox("Show the current result on a crop while training")
        self.live_preview.setToolTip(
            "Every few seconds the model as it is now denoises a small crop at the image's "
            "centre, shown as one 'preview' layer over it (computed in the background, "
            "removed when the result arrives): stop when it looks right. On by default "
            "for Self2Self")
        form.addRow("Live preview", self.live_preview)
        return form

    def _build_extra_inputs(self, form: QFormLayout) -> None:
        """One layer picker per further input a registered method declares (Noise2Noise's
        second acquisition), shown while that method is chosen."""
        self.extra_inputs: dict[str, tuple[QLabel, LayerPicker]] = {}
        for method in METHODS.values():
            for extra in method.extra_inputs:
                if extra.name in self.extra_inputs:
                    continue
                label, picker = QLabel(extra.label), LayerPicker(self.viewer)
                picker.setToolTip(extra.help[0].upper() + extra.help[1:])
                form.addRow(label, picker)
                self.extra_inputs[extra.name] = (label, picker)
        self.pairs_from = QCheckBox("Pair each frame with the next along T")
        self.pairs_from.setToolTip(
            "For a time-lapse whose scene barely moves between frames: frame t and frame "
            "t+1 are the two acquisitions (no second layer needed); every frame is denoised")
        self.pairs_from.toggled.connect(self._update_pair_rows)
        form.addRow(self.pairs_from)

    def _build_advanced(self) -> QWidget:
        box = QCollapsible("Advanced")
        inner = QWidget()
        form = QFormLayout(inner)
        self.patch_size = _spin(16, 1024, 64, 16, " px")
        form.addRow("Patch size", self.patch_size)
        self.batch_size = _spin(1, 1024, 16)
        form.addRow("Batch size", self.batch_size)
        self.learning_rate = QDoubleSpinBox()
        self.learning_rate.setDecimals(5)
        self.learning_rate.setRange(1e-5, 1e-1)
        self.learning_rate.setSingleStep(1e-4)
        form.addRow("Learning rate", self.learning_rate)
        self.seed = _spin(0, 2**31 - 1, 0)
        form.addRow("Seed", self.seed)
        self.blind_spot = QComboBox()
        self.blind_spot.setEditable(True)
        self.blind_spot.addItems(BLIND_SPOTS)
        self.blind_spot.setToolTip(
            "What is hidden around each masked pixel (n2v, n2s, nnet). auto: measured from the "
            "image's noise correlation when training starts (one pixel when the noise is "
            "independent); HxW blocks (odd sizes, e.g. 1x5) hide neighbours whose noise is "
            "correlated with the pixel's, as a confocal's scan line makes them")
        form.addRow("Blind spot", self.blind_spot)
        self.downsample = QComboBox()
        self.downsample.setEditable(True)
        self.downsample.addItems(DOWNSAMPLES)
        self.downsample.setToolTip(
            "Pixel-shuffle downsampling (n2v, n2s): train on the sub-images taken with this "
            "stride from every training window, with a one-pixel blind spot, and predict at "
            "full resolution. 1: off; auto: the measured noise correlation's extent + 1 when "
            "the noise is correlated (else off); replaces the blind-spot block")
        self.downsample_label = QLabel("Downsample")
        form.addRow(self.downsample_label, self.downsample)
        self._build_dims(form)
        self._build_blend(form)
        self.tile_size = _spin(64, 4096, 512, 64, " px")
        form.addRow("Prediction tile", self.tile_size)
        self.memory_budget = memory_budget_box(form)
        self.exclude = QComboBox()
        self.exclude.setToolTip(
            "A labels or image layer of the image's shape whose non-zero pixels are known to "
            "be corrupted (dead/hot pixels, a damaged region): never used in training and "
            "filled in by the result (s2s; NaN pixels always are)")
        self.exclude_label = QLabel("Exclude pixels")
        form.addRow(self.exclude_label, self.exclude)
        for ev in (self.viewer.layers.events.inserted, self.viewer.layers.events.removed):
            ev.connect(self._refresh_exclude)
        self._refresh_exclude()
        box.addWidget(inner)
        return box

    def _build_blend(self, form: QFormLayout) -> None:
        """The blend of the network with a calibrated blur (shown for n2v and n2s) and
        test-time augmentation."""
        self.blend = QCheckBox("Blend with a calibrated blur")
        self.blend.setChecked(True)
        self.blend.setToolTip(
            "n2v, n2s: after training, blend the network's output with a Gaussian blur, both "
            "calibrated by the self-supervised (J-invariant) loss on the network's own blind "
            "spot; the weight can come out as 1 (the network alone). Measured gains: "
            "docs/benchmarks.md")
        form.addRow(self.blend)
        self.tta = QComboBox()
        self.tta.addItems(list(TTA_CHOICES))
        self.tta.setToolTip(
            "Test-time augmentation: average the prediction over the flips/rotations the "
            "model trained with (4 or 8x the prediction time, a few tenths of a dB; "
            "docs/benchmarks.md). auto: on for Noise2Void/Noise2Self/N-net when the extra passes "
            "stay under 16 megapixels")
        form.addRow("Test-time aug.", self.tta)

    def _build_dims(self, form: QFormLayout) -> None:
        """The network's dimensions: auto, 2-D or 3-D (shown for methods with a 3-D one)."""
        self.dims = QComboBox()
        for label, value in DIMS:
            self.dims.addItem(label, value)
        self.dims.setCurrentIndex(self.dims.findData(PRESETS["cpu"][0].dims))
        self.dims.setToolTip(
            "The network's dimensions (n2v, n2s, nnet). 2-D: each Z plane denoised on its own; "
            "3-D: ZYX volumes, the network also sees the neighbouring planes; auto: 3-D for "
            f"stacks of at least {AUTO_MIN_DEPTH} Z planes, else 2-D. The layer's Z scale "
            "shapes the 3-D network (pooling only in Y and X while voxels are longer in Z)")
        self.dims_label = QLabel("Network")
        form.addRow(self.dims_label, self.dims)

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.train_button = QPushButton("Train")
        self.train_button.clicked.connect(self.start_training)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("End training now, keep the best model so far and "
                                    "denoise with it; press again to cancel the prediction")
        self.stop_button.clicked.connect(self.stop)
        row.addWidget(self.train_button)
        row.addWidget(self.stop_button)
        return row

    # -- form reactions -------------------------------------------------------------------
    def _on_layer_changed(self, *_) -> None:
        layer = self.layer_picker.layer()
        self.axes.setPlaceholderText(default_axes(layer) if layer is not None else "")
        self.train_button.setEnabled(layer is not None and not self.runner.running)

    def _on_method_changed(self, *_) -> None:
        method = get_method(self.method.currentData())
        self.method_info.setText(f"<small>{method.description}</small>")
        self.noise_plot.setVisible(any(o.kind == "curve" for o in method.outputs()))
        self.loss_plot.set_label(method.loss_label)
        self.noise_kind.clear()
        for kind in method.noise_model_kinds:
            self.noise_kind.addItem(NOISE_LABELS.get(kind, kind), kind)
        self.noise_kind.setVisible(method.noise_model)
        self.noise_kind_label.setVisible(method.noise_model)
        self.exclude.setVisible(method.accepts_missing)
        self.exclude_label.setVisible(method.accepts_missing)
        self.live_preview.setChecked(method.live_preview)
        self._update_pair_rows()
        self.downsample.setVisible(method.downsamples)
        self.downsample_label.setVisible(method.downsamples)
        if method.downsamples:
            self.downsample.setCurrentText(str(method.mask.downsample))
        self.dims.setVisible(3 in method.spatial_dims)
        self.dims_label.setVisible(3 in method.spatial_dims)
        self.blend.setVisible(method.blends)

    def _update_pair_rows(self, *_) -> None:
        """Show the chosen method's further-input pickers (and the frames option of a method
        trained on pairs); a picker is unused while frames are paired or a job runs."""
        method = get_method(self.method.currentData())
        self.pairs_from.setVisible(method.inputs > 1)
        frames = method.inputs > 1 and self.pairs_from.isChecked()
        wanted = {e.name for e in method.extra_inputs}
        for name, (label, picker) in self.extra_inputs.items():
            label.setVisible(name in wanted)
            picker.setVisible(name in wanted)
            picker.setEnabled(not frames and not self.runner.running)

    def _refresh_exclude(self, *_) -> None:
        """The labels and image layers offered as an exclusion mask."""
        current = self.exclude.currentText()
        names = [layer.name for layer in self.viewer.layers
                 if getattr(layer, "_type_string", "") in ("labels", "image")]
        self.exclude.clear()
        self.exclude.addItems([NO_EXCLUSION, *names])
        if current in names:
            self.exclude.setCurrentText(current)

    def _excluding(self, data, method: str):
        """``data`` with the chosen mask layer's pixels marked unknown (``s2s``)."""
        name = self.exclude.currentText()
        if not get_method(method).accepts_missing or name in ("", NO_EXCLUSION):
            return data
        return exclude_pixels(data, layer_data(self.viewer.layers[name]))

    def _with_extra_inputs(self, data, layer, layout, method: str):
        """``(training data, provenance, data to denoise)``: ``data`` itself; for a method
        trained on several arrays, ``data`` and the layers picked for its further inputs
        (same axes), or its neighbouring frames along T (every frame denoised)."""
        spec = get_method(method)
        if spec.inputs > 1 and self.pairs_from.isChecked():
            return neighbour_frames(data, layout.axes, "T"), {"pairs_from": "T"}, data
        arrays, names = [data], {}
        for extra in spec.extra_inputs:
            label, picker = self.extra_inputs[extra.name]
            other = picker.layer()
            if other is None or other is layer:
                raise InputError(f"pick the {label.text().lower()}: a layer other than "
                                 f"'{layer.name}' ({extra.help})")
            arrays.append(read_layer(other, layout.axes)[0])
            names[extra.name] = other.name
        return (tuple(arrays) if spec.extra_inputs else data), names, data

    def _training_values(self) -> tuple:
        return (self.steps.value(), self.patch_size.value(), self.batch_size.value(),
                self.learning_rate.value(), self.time_limit.value())

    def _apply_preset(self, *_) -> None:
        train = default_config(self.method.currentData(), self.preset.currentData()).train
        self.steps.setValue(train.steps)
        self.patch_size.setValue(train.patch_size)
        self.batch_size.setValue(train.batch_size)
        self.learning_rate.setValue(train.learning_rate)
        # a method's own budget (classical: a calibration of seconds), else the widget's
        self.time_limit.setValue(int(train.time_budget or DEFAULT_TIME_LIMIT))
        self._preset_values = self._training_values()

    def _method_changed(self, *_) -> None:
        """A method may have its own presets (s2s): follow them unless the user has edited
        the training values since the last preset was applied."""
        if self._training_values() == getattr(self, "_preset_values", None):
            self._apply_preset()

    def config(self):
        """The :class:`DenoiseConfig` the form describes."""
        method = self.method.currentData()
        noise = self.noise_kind.currentData() if get_method(method).noise_model else None
        config = default_config(
            method, self.preset.currentData(), noise_model=noise, steps=self.steps.value(),
            time_budget=float(self.time_limit.value()) or None,
            patch_size=self.patch_size.value(), batch_size=self.batch_size.value(),
            learning_rate=self.learning_rate.value(), seed=self.seed.value())
        spot = self.blind_spot.currentText().strip().lower() or "auto"
        stride = self.downsample.currentText().strip() or "1"
        if not get_method(method).downsamples:
            stride = "1"
        if 3 in get_method(method).spatial_dims:
            config = replace(config, model=replace(config.model, dims=self.dims.currentData()))
        if get_method(method).blends:
            config = replace(config, blend=BlendConfig(
                mode="auto" if self.blend.isChecked() else "off"))
        return replace(config, mask=replace(config.mask, blind_spot=spot, downsample=stride))

    # -- actions --------------------------------------------------------------------------
    def start_training(self, *_):
        """Check the inputs, then train and predict in a worker; returns the worker or None."""
        from napari.utils.notifications import show_error

        if self.runner.running:
            self.runner.refuse()
            return None
        layer = self.layer_picker.layer()
        try:
            if layer is None:
                raise InputError("no suitable image layer: open an image first")
            config = self.config()
            data, layout = read_layer(layer, self.axes.text().strip().upper() or None)
            data = self._excluding(data, config.method)
            train_on, extra_names, data = self._with_extra_inputs(data, layer, layout,
                                                                  config.method)
            preview = self.preview_options if self.live_preview.isChecked() else None
            session = TrainingSession(train_on, layout.axes, config,
                                      device=self.device.device(), preview=preview,
                                      spacing=layer_spacing(layer, layout.axes))
        except (InputError, ValueError) as exc:
            show_error(f"Cannot train: {exc}")
            self.status.setText(f"Cannot train: {exc}")
            return None
        self.session, self.trained, self.result, self._source = session, None, None, layer
        self.live.begin(layer)
        self._axes = layout.axes
        self.loss_plot.clear_data()
        self.notice.setText("")
        self.noise_plot.clear_data()
        provenance = {"source": layer.name, "config": config.to_dict(), "axes": layout.axes,
                      **extra_names}
        tile = TileConfig.for_size(self.tile_size.value(),
                                   tta=TTA_CHOICES[self.tta.currentText()],
                                   memory_budget=memory_budget_value(self.memory_budget))
        worker = self.runner.start(train_and_predict, session, self.output.path(), layer.name,
                                   tile, provenance=provenance, data=data)
        if worker is not None:
            self._set_running(True)
            self._phase = "train"
            self.status.setText(f"Training {config.method} on '{layer.name}' "
                                f"({layout.axes} {layout.shape}) on {session.device}…")
        return worker

    def stop(self, *_) -> None:
        """Stop training (keep the best model and predict) or cancel the prediction."""
        if not self.runner.running:
            return
        self.runner.request_stop()
        if self._phase == "train":
            self.status.setText("Stopping: keeping the best model so far…")
        else:
            self.status.setText("Cancelling the prediction…")

    def save_model_to(self, folder: str | Path) -> Path:
        """Write the last trained model to ``folder`` (a checkpoint folder)."""
        if self.trained is None:
            raise InputError("train a model first")
        return save_model(self.trained, folder)

    def _on_save_clicked(self) -> None:  # pragma: no cover - modal dialog
        from napari.utils.notifications import show_error, show_info

        folder = QFileDialog.getSaveFileName(self, "Save model folder", "model")[0]
        if not folder:
            return
        if Path(folder).exists() and is_model_folder(folder):
            answer = QMessageBox.question(self, "Replace model?",
                                          f"{folder} holds a saved model. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        try:
            show_info(f"Model saved to {self.save_model_to(folder)}")
        except Exception as exc:  # noqa: BLE001 - reported to the user
            show_error(f"Saving the model failed: {exc}")

    # -- worker callbacks (GUI thread) ----------------------------------------------------
    def _on_event(self, event) -> None:
        self.live.on_event(event)
        if isinstance(event, TrainEvent):
            self._show_train(event)
        elif isinstance(event, Phase):
            self._phase, self._phase_label = event.name, event.label
            self.loss_plot.flush()
            self.status.setText("Denoising the whole image…" if event.name == "predict"
                                else f"Computing the {event.label}…")
        elif isinstance(event, PredictEvent):
            self.progress.setValue(int(1000 * event.progress))
            what = "Denoising" if self._phase == "predict" else self._phase_label.capitalize()
            self.status.setText(f"{what}: part {event.tile}/{event.n_tiles}, "
                                f"{_clock(event.elapsed)} elapsed")

    def _show_train(self, event: TrainEvent) -> None:
        if event.notice:
            self.notice.setText(event.notice[0].upper() + event.notice[1:] + ".")
        self.loss_plot.add(event)
        if event.preview is not None:
            self._preview.show(self._source, event.preview, self._axes)
        if event.noise_curve is not None:
            self.noise_plot.set_curve(*event.noise_curve, force=event.progress >= 1.0)
        now = time.perf_counter()
        if now - self._last_status < STATUS_SECONDS and event.progress < 1.0:
            return
        self._last_status = now
        p = event.progress
        self.progress.setValue(int(1000 * p))
        left = event.elapsed * (1 - p) / p if p > 0 else 0.0
        self.status.setText(
            f"Training: step {event.step}/{event.n_steps}, {_clock(event.elapsed)} elapsed, "
            f"~{_clock(left)} left, {_losses(event)}")

    def _on_done(self, result: PipelineResult) -> None:
        self.result = result
        self.trained = result.trained
        self.save_button.setEnabled(True)
        info = result.trained.info
        stopped = " (stopped early)" if info.get("stopped_early") else ""
        if not result.complete:
            self.live.remove()
            self.status.setText(f"Prediction cancelled; the model is kept{stopped}.")
            return
        self.live.hand_over(lambda: add_outputs(self.viewer, self._source, result,
                                                self.noise_plot))
        self._preview.remove()  # the result supersedes it
        show_warnings(result, self.notice)
        self.progress.setValue(1000)
        fit = summary_text(result)
        blend = describe_blend(result.trained.config)
        blend = f"The network's output {blend}. " if blend else ""
        self.status.setText(
            f"Done in {_clock(result.seconds)}: {info.get('steps')} steps{stopped}, kept the "
            f"model of step {info.get('best_step')}. {fit + ' ' if fit else ''}{blend}"
            f"Result: {result.images['denoised']}")

    def _on_finish(self) -> None:
        self.live.remove()  # stopped or failed: its store is gone (a result replaced it)
        self._phase = "idle"
        self._set_running(False)
        self.cache.refresh()

    def _set_running(self, running: bool) -> None:
        self.train_button.setEnabled(not running and self.layer_picker.layer() is not None)
        self.stop_button.setEnabled(running)
        for w in (self.layer_picker, self.method, self.preset, self.device, self.axes,
                  self.live_preview, self.pairs_from):
            w.setEnabled(not running)
        self._update_pair_rows()
