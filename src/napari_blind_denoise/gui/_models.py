"""Choosing a trained model: those recorded in the viewer's result layers, or a loaded folder."""

from __future__ import annotations

from pathlib import Path

from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QWidget,
)

from ..core import BlindDenoiseError, ChannelModels, InputError, TrainedModel, load_model
from ..core.methods.blend import describe as describe_blend
from ._layers import model_paths_in

NO_MODEL = "No model yet: train one, or load a model folder or a BioImage.IO package"


def describe_model(trained: TrainedModel | ChannelModels) -> str:
    """One line about a model: method, axes, channels, training steps."""
    info = trained.info or {}
    package = info.get("bioimageio")
    if package:  # read from a BioImage.IO package
        made = f", made by {package['method']}" if package.get("method") else ""
        return (f"BioImage.IO package '{package['name']}' ({package['weights']} weights"
                f"{made}): {trained.channels} channel(s)")
    steps = f", {info['steps']} steps" if info.get("steps") else ""
    chosen = [v["summary"] for v in (info.get("adapted") or {}).values()
              if isinstance(v, dict) and "summary" in v]  # what a fitted method chose
    blend = describe_blend(trained.config)  # "" for the network alone
    per = ", one model per channel" if trained.config.model.channels == "separate" \
        and trained.channels > 1 else ""
    return (f"{trained.method}: trained on {trained.axes}, {trained.channels} channel(s){per}"
            f"{steps}{''.join(', ' + c for c in chosen)}{', ' + blend if blend else ''}")


class ModelChooser(QWidget):
    """A combo of model folders plus Load…; follows the viewer's layers.

    ``changed`` is emitted with the chosen folder (or ``""``) whenever the choice changes.
    """

    changed = Signal(str)

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self._loaded: list[str] = []
        self.combo = QComboBox()
        self.combo.setToolTip("Models trained in this viewer, and models you loaded")
        self.combo.currentIndexChanged.connect(self._on_changed)
        load = QPushButton("Load…")
        menu = QMenu(load)
        menu.addAction("Model folder…", self._on_load_clicked)
        menu.addAction("BioImage.IO package (.zip)…", self._on_load_package_clicked)
        load.setMenu(menu)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.combo, 1)
        row.addWidget(load)
        self.info = QLabel(NO_MODEL)
        self.info.setWordWrap(True)
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)

    def refresh(self, *_) -> None:
        """List models recorded in the viewer's result layers plus loaded folders."""
        current = self.combo.currentData()
        paths = model_paths_in(self._viewer)
        paths += [p for p in self._loaded if p not in paths]
        self.combo.blockSignals(True)
        self.combo.clear()
        for p in paths:
            self.combo.addItem(Path(p).name, p)
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(max(index, 0) if paths else -1)
        self.combo.blockSignals(False)
        self._on_changed()

    def add_path(self, folder: str | Path) -> None:
        """Offer the model ``folder`` (or BioImage.IO package) and select it (checked when
        used)."""
        folder = str(Path(folder).expanduser().resolve())
        if folder not in self._loaded:
            self._loaded.append(folder)
        self.refresh()
        self.combo.setCurrentIndex(self.combo.findData(folder))

    def _on_load_clicked(self) -> None:  # pragma: no cover - modal dialog
        folder = QFileDialog.getExistingDirectory(self, "Model folder")
        if folder:
            self.add_path(folder)

    def _on_load_package_clicked(self) -> None:  # pragma: no cover - modal dialog
        path = QFileDialog.getOpenFileName(self, "BioImage.IO model package", "",
                                           "BioImage.IO package (*.zip);;All files (*)")[0]
        if path:
            self.add_path(path)

    def _on_changed(self, *_) -> None:
        path = self.path()
        if not path:
            self.info.setText(NO_MODEL)
        else:
            try:
                self.info.setText(describe_model(load_model(path)))
            except BlindDenoiseError as exc:
                self.info.setText(f"Cannot use this model: {exc}")
        self.changed.emit(path)

    def path(self) -> str:
        """The chosen folder, or ``""``."""
        return str(self.combo.currentData() or "")

    def model(self) -> TrainedModel:
        """Load the chosen model.

        Raises
        ------
        InputError, CheckpointError
            No model chosen, or the folder is not a readable model.
        """
        if not self.path():
            raise InputError("choose a model: train one, or load a model folder or a "
                             "BioImage.IO package")
        return load_model(self.path())
