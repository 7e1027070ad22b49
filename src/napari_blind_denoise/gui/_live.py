"""The denoised image while it is being written: one layer reading the temporary store
lazily, refreshed at most every ``REFRESH_SECONDS`` as prediction goes on, pointed at the
final store once committed, handed over to the result's layer when the job completes and
removed when it does not."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..core import Phase, PredictEvent
from ..io import StoreState
from ._layers import META_KEY, add_result_layer, result_role
from ._results import open_store, result_style

REFRESH_SECONDS = 0.5  # the live layer is re-read at most twice a second, never per tile
# what the user may have changed on the live layer and the result's layer keeps (in order:
# the slider's range before the limits within it)
VIEW_SETTINGS = ("contrast_limits_range", "contrast_limits", "gamma", "colormap", "opacity",
                 "blending", "visible")


class LiveLayer:
    """Shows the output of a job whose :class:`~napari_blind_denoise.io.StoreState` events
    it is given, in one viewer.

    Feed it every event of the job (:meth:`on_event`); :meth:`hand_over` when the job's
    layers are added, :meth:`remove` when it ends otherwise.
    """

    def __init__(self, viewer, interval: float = REFRESH_SECONDS) -> None:
        self.viewer = viewer
        self.interval = interval
        self.layer = None
        self.source = None
        self.filling = False
        self.refreshes = 0
        self._last = 0.0

    def begin(self, source) -> None:
        """A new job denoising the layer ``source`` (any previous live layer goes)."""
        self.remove()
        self.source = source

    def on_event(self, event) -> None:
        """Add the layer when its store opens; re-read it (throttled) while tiles are
        written, once more when prediction ends; follow the store when it is committed
        (the final path) or removed (the layer goes)."""
        if isinstance(event, StoreState):
            self._follow(event)
        elif isinstance(event, Phase):
            if self.filling:
                self.refresh()  # the last rows, written after the last tile's event
            self.filling = event.name == "predict" and self._present()
        elif isinstance(event, PredictEvent) and self.filling and (
                time.monotonic() - self._last >= self.interval):
            self.refresh()

    def _follow(self, state: StoreState) -> None:
        if state.path is None:
            self.remove()
        elif not state.writing:
            self.filling = False
            if self._present():  # the committed store, whole
                self._repoint(state.path)
        elif self.source is not None:
            self._show(state)

    def _show(self, state: StoreState) -> None:
        self.remove()
        try:
            data = open_store(state.path)
        except FileNotFoundError:
            # events reach the GUI thread late: a short job may have committed (renamed)
            # or removed the store already; its result (if any) follows
            return
        label, kwargs = result_style(self.source, state.name)
        provenance = {"role": "live", "output": state.name, "source": self.source.name,
                      "store": str(state.path)}
        self.layer = add_result_layer(self.viewer, data, self.source,
                                      f"{self.source.name} {label}", provenance, **kwargs)
        self._last = time.monotonic()

    def _repoint(self, path) -> None:
        try:
            self.layer.data = open_store(path)
        except FileNotFoundError:  # gone since (the job's end replaces or removes it)
            return
        self.layer.metadata[META_KEY]["store"] = str(path)

    def _present(self) -> bool:
        return self.layer is not None and self.layer in self.viewer.layers

    def refresh(self) -> None:
        """Re-read what the layer shows from its store now."""
        self._last = time.monotonic()
        if self._present():
            self.layer.refresh()
            self.refreshes += 1

    def hand_over(self, add_layers: Callable[[], list]) -> list:
        """Remove the live layer, call ``add_layers`` (which adds the committed result's
        layers and returns them) and give the denoised one the live layer's place in the
        layer list and its view settings (contrast, colormap, visibility...)."""
        layer = self.layer if self._present() else None
        index = self.viewer.layers.index(layer) if layer is not None else None
        settings = {k: getattr(layer, k) for k in VIEW_SETTINGS} if layer is not None else {}
        self.remove()
        layers = add_layers()
        final = next((x for x in layers if result_role(x) == "denoised"), None)
        if final is not None and index is not None:
            for key, value in settings.items():
                setattr(final, key, value)
            self.viewer.layers.move(self.viewer.layers.index(final), index)
        return layers

    def remove(self) -> None:
        """Take the live layer out of the viewer (if it is still there)."""
        layer, self.layer = self.layer, None
        self.filling = False
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)

