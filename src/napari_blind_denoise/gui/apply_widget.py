"""Denoise (apply model): run a saved or just-trained model on a layer, tile by tile."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core import (
    BlindDenoiseError,
    InputError,
    PipelineResult,
    PredictEvent,
    TileConfig,
    bioimageio_available,
    check_compatible,
    export_bioimageio,
    pick_device,
)
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
from ._layers import default_axes, layer_data, read_layer
from ._live import LiveLayer
from ._models import ModelChooser
from ._results import add_outputs, show_warnings
from ._workers import apply_model


class ApplyWidget(JobWidget):
    """Dock widget: denoise a layer with an existing model; the result is a new layer."""

    def __init__(self, napari_viewer) -> None:
        runner = JobRunner("Denoising", on_event=self._on_event, on_done=self._on_done,
                           on_finish=self._on_finish)
        super().__init__(runner, live=LiveLayer(napari_viewer))
        self.exporter = JobRunner("Export", on_event=lambda _: None,
                                  on_done=self._on_exported, on_finish=self._on_export_finish,
                                  exclusive=False)
        self.destroyed.connect(lambda *_: self.exporter.close())
        self.exported = None
        self.viewer = napari_viewer
        self.result: PipelineResult | None = None
        self._build()
        self.models.refresh()

    def _build(self) -> None:
        lay = QVBoxLayout(self)
        form = QFormLayout()
        lay.addLayout(form)
        self.models = ModelChooser(self.viewer)
        self.model_choice, self.model_info = self.models.combo, self.models.info
        self.add_model_path = self.models.add_path
        form.addRow("Model", self.models)
        form.addRow(self.model_info)
        self.layer_picker = LayerPicker(self.viewer)
        self.layer_picker.currentTextChanged.connect(self._update_axes_hint)
        form.addRow("Image", self.layer_picker)
        self.axes = QLineEdit()
        self.axes.setToolTip("Axes of the layer; empty: detected (shown in grey)")
        form.addRow("Axes", self.axes)
        self.device = DeviceChooser()
        form.addRow("Device", self.device)
        self.tile_size = QLineEdit("512")
        form.addRow("Tile size", self.tile_size)
        self.memory_budget = memory_budget_box(form)
        self.output = FolderField()
        form.addRow("Output folder", self.output)
        buttons = QHBoxLayout()
        self.apply_button = QPushButton("Apply")
        self.apply_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.runner.request_stop)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.stop_button)
        lay.addLayout(buttons)
        self.export_button = QPushButton("Export for BioImage.IO…")
        self.export_button.setToolTip(
            "Write the chosen model as a BioImage.IO model package (.zip) that other tools "
            "(and the model zoo) can run; the chosen image's centre becomes its test image")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.models.changed.connect(self._update_export)
        lay.addWidget(self.export_button)
        self.progress, self.status = progress_widgets()
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self._update_axes_hint()

    def _update_export(self, *_) -> None:
        ready = bool(self.models.path()) and not self.exporter.running
        self.export_button.setEnabled(ready and bioimageio_available())
        if not bioimageio_available():
            self.export_button.setToolTip('Needs the optional extra: pip install '
                                          '"napari-blind-denoise[bioimageio]"')

    def _update_axes_hint(self, *_) -> None:
        layer = self.layer_picker.layer()
        self.axes.setPlaceholderText(default_axes(layer) if layer is not None else "")

    # -- run ------------------------------------------------------------------------------
    def _prepare(self):
        trained = self.models.model()
        path = self.models.path()
        layer = self.layer_picker.layer()
        if layer is None:
            raise InputError("no suitable image layer to denoise")
        axes = trained.axes_for(tuple(layer_data(layer).shape),
                               self.axes.text().strip().upper() or None)
        data, layout = read_layer(layer, axes)
        check_compatible(trained, layout)
        try:
            tile = int(self.tile_size.text())
        except ValueError:
            raise InputError("tile size must be a whole number, "
                             f"got {self.tile_size.text()!r}") from None
        # test-time augmentation as the train widget's and the CLI's default ("auto")
        return path, trained, layer, data, layout, TileConfig.for_size(
            tile, tta="auto", memory_budget=memory_budget_value(self.memory_budget))

    def start(self, *_):
        """Check model and layer, then predict in a worker; returns the worker or None."""
        from napari.utils.notifications import show_error

        if self.runner.running:
            self.runner.refuse()
            return None
        try:
            path, trained, layer, data, layout, tile = self._prepare()
            device = pick_device(self.device.device())
        except (BlindDenoiseError, ValueError) as exc:
            show_error(f"Cannot apply the model: {exc}")
            self.status.setText(f"Cannot apply the model: {exc}")
            return None
        self._source, self.result = layer, None
        self.live.begin(layer)
        provenance = {"source": layer.name, "config": trained.config.to_dict(),
                      "axes": layout.axes, "model_path": str(path)}
        worker = self.runner.start(apply_model, trained, Path(path), data, layout.axes,
                                   self.output.path(), layer.name, tile, device,
                                   provenance=provenance)
        if worker is not None:
            self._set_running(True)
            self.status.setText(f"Denoising '{layer.name}' with {Path(path).name}…")
        return worker

    # -- export ---------------------------------------------------------------------------
    def export_to(self, path: str | Path):
        """Export the chosen model to ``path`` (a .zip) in a worker; returns it or None."""
        from napari.utils.notifications import show_error

        try:
            trained = self.models.model()
            layer = self.layer_picker.layer()
            sample = axes = None
            if layer is not None:
                sample = layer_data(layer)
                axes = trained.axes_for(tuple(sample.shape),
                                        self.axes.text().strip().upper() or None)
        except (BlindDenoiseError, ValueError) as exc:
            show_error(f"Cannot export: {exc}")
            self.status.setText(f"Cannot export: {exc}")
            return None
        worker = self.exporter.start(_export_job, trained, Path(path), sample, axes)
        if worker is not None:
            self.export_button.setEnabled(False)
            self.status.setText(f"Writing the BioImage.IO package {Path(path).name}…")
        return worker

    def _on_export_clicked(self) -> None:  # pragma: no cover - modal dialog
        path = QFileDialog.getSaveFileName(self, "BioImage.IO model package", "model.zip",
                                           "BioImage.IO package (*.zip)")[0]
        if path:
            self.export_to(path if path.lower().endswith(".zip") else path + ".zip")

    def _on_exported(self, done) -> None:
        from napari.utils.notifications import show_info

        self.exported = done
        note = f" Note: {done.note}." if done.note else ""
        self.status.setText(f"Wrote {done.path} ({', '.join(done.weights)} weights).{note}")
        show_info(f"BioImage.IO package written: {done.path}")

    def _on_export_finish(self) -> None:
        self._update_export()

    def _on_event(self, event) -> None:
        self.live.on_event(event)
        if isinstance(event, PredictEvent):
            self.progress.setValue(int(1000 * event.progress))
            self.status.setText(f"Denoising: tile {event.tile}/{event.n_tiles}")

    def _on_done(self, result: PipelineResult) -> None:
        self.result = result
        if not result.complete:
            self.live.remove()
            self.status.setText("Stopped; no layer was added.")
            return
        self.live.hand_over(lambda: add_outputs(self.viewer, self._source, result))
        show_warnings(result)
        self.progress.setValue(1000)
        self.status.setText(f"Done in {result.seconds:.1f} s: {result.images['denoised']}")

    def _on_finish(self) -> None:
        self.live.remove()  # stopped or failed: its store is gone (a result replaced it)
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        self.apply_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        widgets: tuple[QWidget, ...] = (self.model_choice, self.layer_picker, self.device)
        for w in widgets:
            w.setEnabled(not running)


def _export_job(trained, path: Path, sample, axes, *, stop):
    """Worker: write the package (a generator so it runs in a thread)."""
    yield "exporting"
    return export_bioimageio(trained, path, sample=sample, sample_axes=axes)
