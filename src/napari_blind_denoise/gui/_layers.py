"""The two viewer touch-points: reading an input layer and adding result layers.

Layers are never modified: inputs are read window by window through the core, and results
are new layers that read lazily from zarr stores on disk. A multiscale layer is read at its
full resolution (level 0, at the layer's scale), just as lazily.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..core import InputError, Layout, check_image, guess_axes

META_KEY = "napari_blind_denoise"
_NAN_CHECK_LIMIT = 256 * 1024 * 1024  # bytes of float data checked whole; larger: sampled


# a layer named like this holds a reference / ground truth, not an image to denoise
_REFERENCE_NAME = re.compile(
    r"(?<![a-z0-9])(clean|reference|ref|ground[ _-]?truth|groundtruth|gt)(?![a-z0-9])",
    re.IGNORECASE)


def _is_image(layer) -> bool:
    return getattr(layer, "_type_string", "") == "image"


def _role(layer) -> str | None:
    meta = getattr(layer, "metadata", None) or {}
    entry = meta.get(META_KEY) if isinstance(meta, dict) else None
    return entry.get("role") if isinstance(entry, dict) else None


def is_reference(layer) -> bool:
    """True for a reference / ground-truth layer: marked so (the sample's) or named so
    ("clean", "reference", "ground truth", "GT" as a word)."""
    return _role(layer) == "reference" or bool(_REFERENCE_NAME.search(str(layer.name)))


def result_role(layer) -> str | None:
    """The role of a layer this plugin added as a result (``denoised``, a method's extra
    output), or ``None`` for any other layer."""
    role = _role(layer)
    return None if role in (None, "reference") else str(role)


def layer_data(layer):
    """The array a layer is denoised from: its data, or level 0 (full resolution) of a
    multiscale layer; the layer's own array either way (no copy, no read)."""
    if getattr(layer, "multiscale", False):
        return layer.data[0]
    return layer.data


def layer_problem(layer) -> str | None:
    """Why ``layer`` cannot be denoised (a one-line message), or ``None`` if it can."""
    name = getattr(layer, "name", "?")
    if not _is_image(layer):
        kind = getattr(layer, "_type_string", type(layer).__name__)
        return f"layer {name!r} is a {kind} layer; pick an image layer"
    if getattr(layer, "rgb", False):
        return (f"layer {name!r} is an RGB colour image; fluorescence channels must be separate "
                "layers or planes")
    data = layer_data(layer)
    shape = tuple(data.shape)
    if len(shape) < 2:
        return f"layer {name!r} is {len(shape)}-D; need at least a 2-D image"
    if 0 in shape:
        return f"layer {name!r} is empty (shape {shape})"
    kind = np.dtype(data.dtype).kind
    if kind not in "uif":
        return f"layer {name!r} has unsupported pixel type {data.dtype}"
    if kind == "f" and _has_nan(data):
        return f"layer {name!r} contains NaN or infinite values; replace them first"
    return None


def _has_nan(data) -> bool:
    """Whole check for in-memory arrays up to a size limit; first/middle/last planes else."""
    if isinstance(data, np.ndarray) and data.nbytes <= _NAN_CHECK_LIMIT:
        return not bool(np.isfinite(data).all())
    lead = data.shape[:-2]
    n = int(np.prod(lead, dtype=np.int64)) if lead else 1
    for flat in sorted({0, n // 2, n - 1}):
        idx = np.unravel_index(flat, lead) if lead else ()
        if not np.isfinite(np.asarray(data[tuple(idx)])).all():
            return True
    return False


def default_axes(layer) -> str:
    """Axes guessed from the layer's dimensions (``YX``, ``ZYX``, ``TZYX``...)."""
    data = layer_data(layer)
    try:
        return guess_axes(tuple(data.shape), np.dtype(data.dtype))
    except InputError:
        return ""


def read_layer(layer, axes: str | None, *, min_size: int = 1) -> tuple[object, Layout]:
    """Check a layer and return ``(data, layout)``; ``data`` is the layer's own array (no copy;
    level 0 of a multiscale layer).

    Raises
    ------
    InputError
        The layer is unsuitable (with a message for the user).
    """
    problem = layer_problem(layer)
    if problem:
        raise InputError(problem)
    data = layer_data(layer)
    layout = check_image(data, axes or None, min_size=min_size)
    return data, layout



def layer_spacing(layer, axes: str) -> dict[str, float] | None:
    """The layer's scale per axis letter of ``axes`` (the voxel size a 3-D network is
    shaped by; a multiscale layer's scale is its level 0's), or ``None`` when its
    dimensions do not match them."""
    scale = tuple(getattr(layer, "scale", ()))
    if len(scale) != len(axes):
        return None
    return {a: float(s) for a, s in zip(axes, scale, strict=True)}


def add_result_layer(viewer, data, source, name: str, provenance: dict, **kwargs):
    """Add ``data`` as a new image layer placed exactly like ``source``.

    Scale, translate, rotation, shear and the source's metadata are copied; our provenance
    goes under ``metadata["napari_blind_denoise"]``. Extra ``kwargs`` go to ``add_image``.
    """
    metadata = {**dict(getattr(source, "metadata", {}) or {}), META_KEY: provenance}
    kwargs.setdefault("colormap", getattr(source.colormap, "name", "gray"))
    return viewer.add_image(
        data, name=name, scale=source.scale, translate=source.translate,
        rotate=source.rotate, shear=source.shear, metadata=metadata,
        multiscale=False, **kwargs)


def model_paths_in(viewer) -> list[str]:
    """Checkpoint folders recorded in the metadata of the viewer's layers (newest first)."""
    seen: list[str] = []
    for layer in reversed(list(viewer.layers)):
        path = (getattr(layer, "metadata", {}) or {}).get(META_KEY, {}).get("model_path")
        if path and path not in seen and Path(path).is_dir():
            seen.append(path)
    return seen
