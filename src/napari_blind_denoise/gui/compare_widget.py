"""Compare to ground truth: PSNR and SSIM of a result layer against a reference layer."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QFormLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..core import InputError, score
from ._common import JobRunner, JobWidget, LayerPicker
from ._layers import layer_data

ROWS = (("PSNR (dB)", "psnr", "psnr_fit", "{:.2f}"), ("SSIM", "ssim", "ssim_fit", "{:.4f}"))


def score_layers(result_data, reference_data):
    """Worker: read both layers and score them (a generator so it can run in a thread)."""
    import numpy as np

    pred = np.asarray(result_data, np.float64)
    ref = np.asarray(reference_data, np.float64)
    yield "scoring"
    return score(pred, ref)


class CompareWidget(JobWidget):
    """Dock widget: PSNR and SSIM, raw and after least-squares scale/offset fitting."""

    def __init__(self, napari_viewer) -> None:
        runner = JobRunner("Comparison", on_event=lambda _: None, on_done=self._on_done,
                           on_finish=self._on_finish, exclusive=False)
        super().__init__(runner)
        self.viewer = napari_viewer
        self.scores: dict[str, float] | None = None
        lay = QVBoxLayout(self)
        form = QFormLayout()
        lay.addLayout(form)
        self.result_picker = LayerPicker(napari_viewer, suitable_only=False, prefer="result")
        self.reference_picker = LayerPicker(napari_viewer, suitable_only=False,
                                            prefer="reference", other=self.result_picker)
        form.addRow("Result", self.result_picker)
        form.addRow("Reference", self.reference_picker)
        self.compare_button = QPushButton("Compare")
        self.compare_button.clicked.connect(self.start)
        lay.addWidget(self.compare_button)
        self.table = QTableWidget(len(ROWS), 2)
        self.table.setHorizontalHeaderLabels(["raw", "scale-fitted"])
        self.table.setVerticalHeaderLabels([r[0] for r in ROWS])
        self.table.setMaximumHeight(90)
        lay.addWidget(self.table)
        self.status = QLabel("Scale-fitted: the result mapped by the least-squares a·x + b "
                             "onto the reference first (fair when intensity scales differ).")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        lay.addStretch(1)

    def start(self, *_):
        """Score the chosen layers in a worker; returns the worker or None."""
        from napari.utils.notifications import show_error

        res, ref = self.result_picker.layer(), self.reference_picker.layer()
        try:
            if res is None or ref is None:
                raise InputError("choose a result layer and a reference layer")
            if res is ref:
                raise InputError(f"'{res.name}' is chosen as both the result and the reference")
            res_data, ref_data = layer_data(res), layer_data(ref)
            if tuple(res_data.shape) != tuple(ref_data.shape):
                raise InputError(f"the layers differ in shape: {tuple(res_data.shape)} vs "
                                 f"{tuple(ref_data.shape)}")
        except InputError as exc:
            show_error(f"Cannot compare: {exc}")
            self.status.setText(f"Cannot compare: {exc}")
            return None
        worker = self.runner.start(_score_job, res_data, ref_data)
        if worker is not None:
            self.compare_button.setEnabled(False)
            self.status.setText(f"Comparing '{res.name}' with '{ref.name}'…")
        return worker

    def _on_done(self, scores: dict[str, float]) -> None:
        self.scores = scores
        for row, (_, raw, fit, fmt) in enumerate(ROWS):
            self.table.setItem(row, 0, QTableWidgetItem(fmt.format(scores[raw])))
            self.table.setItem(row, 1, QTableWidgetItem(fmt.format(scores[fit])))
        self.status.setText(
            f"PSNR {scores['psnr']:.2f} dB (fitted {scores['psnr_fit']:.2f}), "
            f"SSIM {scores['ssim']:.4f} (fitted {scores['ssim_fit']:.4f})")

    def _on_finish(self) -> None:
        self.compare_button.setEnabled(True)


def _score_job(result_data, reference_data, *, stop):
    return (yield from score_layers(result_data, reference_data))
