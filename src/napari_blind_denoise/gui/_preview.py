"""The live preview layer of a training run: added on the first preview, then updated in
place (same layer, new data), and removed once the result's layers are added."""

from __future__ import annotations

import numpy as np

from ..core import Preview
from ._layers import META_KEY


def _placement(source, preview: Preview, axes: str, ndim: int) -> dict:
    """``scale`` and ``translate`` that lay the crop over its place in ``source`` (its
    trailing Y, X axes, and C for several channels); at the origin when the source's axes
    end otherwise."""
    tail = "YX" if ndim == 2 else "CYX"
    if not axes.endswith(tail):
        return {"scale": (1.0,) * ndim, "translate": (0.0,) * ndim}
    scale = np.asarray(source.scale[-ndim:], float)
    corner = np.zeros(ndim)
    corner[-2:] = (preview.top, preview.left)
    translate = np.asarray(source.translate[-ndim:], float) + corner * scale
    return {"scale": tuple(scale), "translate": tuple(translate)}


class PreviewLayer:
    """Shows :class:`~napari_blind_denoise.core.Preview` images of one viewer."""

    def __init__(self, viewer) -> None:
        self.viewer = viewer
        self.layer = None

    def show(self, source, preview: Preview, axes: str):
        """Put ``preview`` (a crop of ``source``, whose axes are ``axes``) on screen:
        a new layer the first time, the same layer's data afterwards; returns the layer."""
        image = preview.image
        data = image[0] if image.shape[0] == 1 else image
        place = _placement(source, preview, axes, data.ndim)
        meta = {META_KEY: {"role": "preview", "source": source.name, "step": preview.step}}
        layer = self.layer
        if layer is None or layer not in self.viewer.layers or layer.data.ndim != data.ndim:
            self.remove()
            layer = self.viewer.add_image(
                data, name=f"{source.name} preview", metadata=meta,
                colormap=getattr(source.colormap, "name", "gray"),
                contrast_limits=tuple(source.contrast_limits), **place)
            self.layer = layer
            return layer
        layer.metadata = {**dict(layer.metadata), **meta}
        layer.scale, layer.translate = place["scale"], place["translate"]
        layer.data = data
        return layer

    def remove(self) -> None:
        """Take the preview layer out of the viewer (if it is still there)."""
        layer, self.layer = self.layer, None
        if layer is not None and layer in self.viewer.layers:
            self.viewer.layers.remove(layer)
