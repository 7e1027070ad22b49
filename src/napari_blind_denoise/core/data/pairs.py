"""Pairs of noisy acquisitions of the same field, for methods trained on pairs (Noise2Noise).

A pair is two arrays of one shape: two files or layers, or the neighbouring frames of a
time-lapse whose scene barely moves between frames (:func:`neighbour_frames`: frame ``t``
and frame ``t + 1`` along an axis, as two lazy views that never copy the data).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .axes import PLANE_AXES, validate_axes


class ShiftedFrames:
    """``length`` consecutive entries of ``data`` along ``dim``, from ``offset`` on.

    Supports what the pipeline reads: ``shape``, ``dtype``, ``ndim``, numpy-style indexing
    with integers and slices (and ``...``), and ``np.asarray``. ``data`` is read only window
    by window; zarr and dask arrays stay lazy.
    """

    def __init__(self, data, dim: int, offset: int, length: int) -> None:
        self.data, self.dim, self.offset = data, dim, offset
        shape = list(data.shape)
        shape[dim] = length
        self.shape = tuple(shape)
        self.dtype = np.dtype(data.dtype)
        self.ndim = len(shape)

    def _shift(self, key):
        """``key`` on this view as a key on ``data``."""
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            fill = (slice(None),) * (self.ndim - len(key) + 1)
            key = key[:at] + fill + key[at + 1:]
        key = key + (slice(None),) * (self.ndim - len(key))
        k = key[self.dim]
        n = self.shape[self.dim]
        if isinstance(k, slice):
            r = range(n)[k]
            stop = r.stop + self.offset
            k = slice(r.start + self.offset, None if stop < 0 else stop, r.step)
        else:
            i = int(k)
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for an axis of size {n}")
            k = (i % n) + self.offset
        return (*key[:self.dim], k, *key[self.dim + 1:])

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.data[self._shift(key)])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        block = self[...]
        return block if dtype is None else block.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def neighbour_frames(data, axes: str, axis: str = "T") -> tuple[ShiftedFrames, ShiftedFrames]:
    """Frames ``0..n-2`` and ``1..n-1`` of ``data`` along ``axis``: each frame paired with
    the next, as two lazy views of one shape.

    Raises
    ------
    InputError
        ``axis`` is not a plane axis of ``axes`` (S, T or Z), or has fewer than 2 entries.
    """
    layout = validate_axes(axes, tuple(data.shape))
    axis = axis.upper()
    if axis not in PLANE_AXES:
        raise InputError(f"frames are paired along a time, depth or sample axis "
                         f"({', '.join(PLANE_AXES)}), not {axis!r}")
    if axis not in layout.axes:
        raise InputError(f"the image has no {axis} axis to pair neighbouring frames along "
                         f"(its axes are {layout.axes}); give the axes, e.g. --axes "
                         f"{axis}YX")
    dim = layout.axes.index(axis)
    n = layout.shape[dim]
    if n < 2:
        raise InputError(f"pairing neighbouring frames needs at least 2 frames along "
                         f"{axis}; the image has {n}")
    return ShiftedFrames(data, dim, 0, n - 1), ShiftedFrames(data, dim, 1, n - 1)
