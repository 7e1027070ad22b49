"""The napari writer (npe2 ``writers`` contribution): an image layer to OME-Zarr; no napari
import.

The layer's scale, translation and units become the OME-Zarr metadata (through
``ome-zarr-models``), its axes come from our provenance, else its axis labels, else its
number of dimensions; our provenance (``metadata["napari_blind_denoise"]``) is kept in the
image's attributes. A pyramid is computed block by block (the layer is never loaded whole).
The write is atomic and never replaces a folder this program did not write.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..core.data.axes import guess_axes
from .images import ATTR_KEY, is_our_zarr
from .omezarr import write_ome_zarr


def _provenance(meta: dict) -> dict:
    """Our provenance from the layer's metadata, as JSON values."""
    ours = (meta.get("metadata") or {}).get(ATTR_KEY) or {}
    return json.loads(json.dumps(dict(ours), default=str)) if isinstance(ours, dict) else {}


def layer_axes(shape: tuple[int, ...], dtype, meta: dict) -> str:
    """The layer's axes: from our provenance, else its axis labels (when they are axis
    letters), else guessed from its number of dimensions."""
    ndim = len(shape)
    for axes in (_provenance(meta).get("axes"),
                 "".join(str(a).upper() for a in meta.get("axis_labels") or ())):
        if isinstance(axes, str) and len(axes) == ndim and set(axes) <= set("TCZYX"):
            return axes
    return guess_axes(tuple(shape), np.dtype(dtype))


def _unit(unit) -> str | None:
    text = str(unit) if unit is not None else ""
    return None if text in ("", "pixel", "None") else text


def write_layer(path: str, data, meta: dict) -> list[str]:
    """Write one image layer (``data``, the layer's state ``meta``) as OME-Zarr at ``path``.

    Raises
    ------
    InputError
        Axes OME-Zarr cannot hold, or ``path`` holds data this program did not write
        (nothing is changed then).
    """
    if meta.get("multiscale") and isinstance(data, list | tuple):
        data = data[0]
    axes = layer_axes(tuple(data.shape), data.dtype, meta)
    ndim = len(axes)
    scale = list(meta.get("scale") or [1.0] * ndim)[-ndim:]
    units = list(meta.get("units") or [None] * ndim)[-ndim:]
    spacing = {a: (float(s), _unit(u)) for a, s, u in zip(axes, scale, units, strict=True)}
    translate = tuple(float(t) for t in (meta.get("translate") or [0.0] * ndim)[-ndim:])
    write_ome_zarr(path, data, axes, spacing=spacing, translation=translate,
                   name=str(meta.get("name") or "image"), attrs=_provenance(meta),
                   owned=is_our_zarr)
    return [os.fspath(path)]
