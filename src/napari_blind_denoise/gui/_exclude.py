"""The train widget's rows for known-corrupted pixels (methods that fill in unknown pixels)."""

from __future__ import annotations

from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QWidget,
)

from ..core import IMPULSE_SIGMAS, exclude_pixels
from ._layers import layer_data

NO_EXCLUSION = "(none)"
VALUE_LIMIT = 1e12  # the thresholds' range: any image's values


def _threshold_row(text: str, tip: str) -> tuple[QWidget, QCheckBox, QDoubleSpinBox]:
    """A checkbox that turns a threshold on, and the threshold."""
    row, check, value = QWidget(), QCheckBox(text), QDoubleSpinBox()
    value.setRange(-VALUE_LIMIT, VALUE_LIMIT)
    value.setDecimals(3)
    value.setEnabled(False)
    check.toggled.connect(value.setEnabled)
    for w in (check, value):
        w.setToolTip(tip)
    lay = QHBoxLayout(row)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addWidget(check)
    lay.addWidget(value, 1)
    return row, check, value


class ExclusionControls:
    """Mask layer, saturation and dead-pixel thresholds and the impulse detector: the pixels
    they name are never used in training and are filled in by the result.

    Rows are added to ``form``; :meth:`set_visible` shows them for methods that accept
    missing pixels (``Method.accepts_missing``), :meth:`apply` marks the pixels.
    """

    def __init__(self, viewer, form: QFormLayout) -> None:
        self.viewer = viewer
        self.layer = QComboBox()
        self.layer.setToolTip(
            "A labels or image layer of the image's shape whose non-zero pixels are known to "
            "be corrupted (dead/hot pixels, a damaged region): never used in training and "
            "filled in by the result (s2s; NaN pixels always are)")
        self.layer_label = QLabel("Exclude pixels")
        form.addRow(self.layer_label, self.layer)
        row, self.above_on, self.above = _threshold_row(
            "at or above", "Exclude saturated or hot pixels: values at or above this (set to "
            "the image's maximum when a layer is picked); CLI --exclude-above")
        self.above_label = QLabel("Saturated")
        form.addRow(self.above_label, row)
        self._above_row = row
        row, self.below_on, self.below = _threshold_row(
            "at or below", "Exclude dead pixels or pepper: values at or below this (set to "
            "the image's minimum when a layer is picked); CLI --exclude-below")
        self.below_label = QLabel("Dead")
        form.addRow(self.below_label, row)
        self._below_row = row
        self.impulses = QCheckBox("Find salt-and-pepper pixels")
        self.impulses.setToolTip(
            "Exclude pixels at the image's minimum or maximum that differ from the median of "
            f"their 8 neighbours by more than {IMPULSE_SIGMAS:g} times the noise's robust "
            "standard deviation (salt-and-pepper, dead and hot pixels; measured when training "
            "starts); CLI --exclude-impulses")
        form.addRow(self.impulses)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed):
            ev.connect(self.refresh_layers)
        self.refresh_layers()

    def set_visible(self, visible: bool) -> None:
        """Show the rows (a method that fills in unknown pixels) or hide them."""
        for w in (self.layer, self.layer_label, self._above_row, self.above_label,
                  self._below_row, self.below_label, self.impulses):
            w.setVisible(visible)

    def refresh_layers(self, *_) -> None:
        """The labels and image layers offered as an exclusion mask."""
        current = self.layer.currentText()
        names = [layer.name for layer in self.viewer.layers
                 if getattr(layer, "_type_string", "") in ("labels", "image")]
        self.layer.clear()
        self.layer.addItems([NO_EXCLUSION, *names])
        if current in names:
            self.layer.setCurrentText(current)

    def follow_layer(self, layer) -> None:
        """Thresholds not turned on start at the picked layer's value range."""
        if layer is None:
            return
        low, high = (float(v) for v in layer.contrast_limits_range)
        if not self.above_on.isChecked():
            self.above.setValue(high)
        if not self.below_on.isChecked():
            self.below.setValue(low)

    def settings(self) -> dict:
        """What is excluded, for the result's metadata: ``mask`` (a layer name), ``above``,
        ``below``, ``impulses``; only those in use."""
        name = self.layer.currentText()
        found = {"mask": None if name in ("", NO_EXCLUSION) else name,
                 "above": self.above.value() if self.above_on.isChecked() else None,
                 "below": self.below.value() if self.below_on.isChecked() else None,
                 "impulses": self.impulses.isChecked() or None}
        return {k: v for k, v in found.items() if v is not None}

    def apply(self, data, axes: str):
        """``data`` with the chosen pixels marked unknown (``data`` itself if none)."""
        chosen = self.settings()
        mask = layer_data(self.viewer.layers[chosen["mask"]]) if "mask" in chosen else None
        return exclude_pixels(data, mask, above=chosen.get("above"),
                              below=chosen.get("below"),
                              impulses=chosen.get("impulses", False), axes=axes)
