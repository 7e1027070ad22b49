"""Checks on user input, raised as :class:`InputError` with a one-line message."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .axes import Layout, guess_axes, validate_axes

_KIND_OK = "uif"  # unsigned, signed, float


def check_image(array, axes: str | None, *, min_size: int = 1) -> Layout:
    """Validate dtype, dimensions, axes and size of an image; return its layout.

    Parameters
    ----------
    array
        Array-like with ``shape`` and ``dtype``.
    axes
        Axes string or ``None`` to guess from the shape.
    min_size
        Smallest allowed Y and X (e.g. the training patch size).
    """
    shape = tuple(getattr(array, "shape", ()))
    dtype = np.dtype(getattr(array, "dtype", np.float32))
    if dtype.kind not in _KIND_OK or dtype.itemsize > 8:
        raise InputError(f"unsupported pixel type {dtype}; use an integer or float image")
    if len(shape) < 2:
        raise InputError(f"need at least a 2-D image, got shape {shape}")
    if 0 in shape:
        raise InputError(f"the image is empty (shape {shape})")
    layout = validate_axes(axes if axes else guess_axes(shape, dtype), shape)
    h, w = layout.height, layout.width
    if h < min_size or w < min_size:
        raise InputError(
            f"the image plane is {h}x{w} pixels, smaller than the {min_size}x{min_size} "
            "training patch; use a larger image or a smaller --patch-size")
    return layout
