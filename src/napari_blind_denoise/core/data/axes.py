"""Axes strings (``"TZYX"``, ``"CYX"``...) and plane-wise access to arrays of any layout.

For 2-D networks ``Y`` and ``X`` are spatial, ``C`` becomes network channels and every
other axis (``S`` sample, ``T`` time, ``Z`` depth) indexes independent planes; 3-D networks
read ``(Z, Y, X)`` volumes through :class:`~.volume.Volumes` instead. Arrays are never
transposed or loaded as a whole; windows are read straight from numpy, zarr or dask arrays.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

VALID_AXES = "STCZYX"
PLANE_AXES = "STZ"


@dataclass(frozen=True)
class Layout:
    """Where each axis of an array sits.

    Attributes
    ----------
    axes
        The axes string, one letter per array dimension.
    shape
        The array shape.
    """

    axes: str
    shape: tuple[int, ...]

    @property
    def plane_dims(self) -> tuple[int, ...]:
        """Positions of the axes that index independent planes (S, T, Z)."""
        return tuple(i for i, a in enumerate(self.axes) if a in PLANE_AXES)

    @property
    def plane_shape(self) -> tuple[int, ...]:
        """Sizes of the plane axes."""
        return tuple(self.shape[i] for i in self.plane_dims)

    @property
    def n_planes(self) -> int:
        """Number of 2-D planes (product of the plane-axis sizes)."""
        return int(np.prod(self.plane_shape, dtype=np.int64))

    @property
    def channels(self) -> int:
        """Size of the C axis, or 1."""
        return self.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def height(self) -> int:
        """Size of Y."""
        return self.shape[self.axes.index("Y")]

    @property
    def width(self) -> int:
        """Size of X."""
        return self.shape[self.axes.index("X")]

    def planes(self) -> Iterator[tuple[int, ...]]:
        """Iterate over plane indices (tuples over the plane axes)."""
        return itertools.product(*(range(n) for n in self.plane_shape))

    def index(self, plane: tuple[int, ...], ys: slice, xs: slice) -> tuple[int | slice, ...]:
        """Full-array index for a window of one plane (C kept whole)."""
        idx: list[int | slice] = []
        it = iter(plane)
        for a in self.axes:
            if a in PLANE_AXES:
                idx.append(next(it))
            elif a == "Y":
                idx.append(ys)
            elif a == "X":
                idx.append(xs)
            else:
                idx.append(slice(None))
        return tuple(idx)

    def _rest_order(self) -> str:
        return "".join(a for a in self.axes if a not in PLANE_AXES)

    def to_cyx(self, block: np.ndarray) -> np.ndarray:
        """Reorder a window read with :meth:`index` to ``(C, Y, X)``."""
        rest = self._rest_order()
        if "C" not in rest:
            return block[None]
        return np.moveaxis(block, [rest.index(a) for a in "CYX"], [0, 1, 2])

    def from_cyx(self, block: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_cyx`, for writing a ``(C, Y, X)`` block back."""
        rest = self._rest_order()
        if "C" not in rest:
            return block[0]
        return np.moveaxis(block, [0, 1, 2], [rest.index(a) for a in "CYX"])

    def read(self, array, plane: tuple[int, ...], ys: slice, xs: slice) -> np.ndarray:
        """Read one window of one plane as float32 ``(C, Y, X)``."""
        block = np.asarray(array[self.index(plane, ys, xs)], dtype=np.float32)
        return self.to_cyx(block)

    def write(self, array, plane: tuple[int, ...], ys: slice, xs: slice, block: np.ndarray) -> None:
        """Write a ``(C, Y, X)`` block into one window of one plane."""
        array[self.index(plane, ys, xs)] = self.from_cyx(block)


def validate_axes(axes: str, shape: tuple[int, ...]) -> Layout:
    """Check an axes string against an array shape and return its :class:`Layout`.

    Raises
    ------
    InputError
        Unknown or repeated letters, missing Y/X, or a length that differs from ``len(shape)``.
    """
    axes = axes.upper()
    bad = set(axes) - set(VALID_AXES)
    if bad:
        raise InputError(f"axes {axes!r}: unknown letters {''.join(sorted(bad))} "
                         f"(use letters from {VALID_AXES})")
    if len(set(axes)) != len(axes):
        raise InputError(f"axes {axes!r}: each letter may appear only once")
    if "Y" not in axes or "X" not in axes:
        raise InputError(f"axes {axes!r}: must contain Y and X")
    if len(axes) != len(shape):
        raise InputError(f"axes {axes!r} has {len(axes)} letters but the image has "
                         f"{len(shape)} dimensions {tuple(shape)}")
    return Layout(axes, tuple(int(s) for s in shape))


def guess_axes(shape: tuple[int, ...], dtype: np.dtype | None = None) -> str:
    """Default axes for an array without metadata.

    2-D is ``YX``, 3-D ``ZYX``, 4-D ``TZYX``, 5-D ``TCZYX``... Three-dimensional arrays whose
    last axis has 3 or 4 entries look like RGB(A) colour images, which are refused.
    """
    ndim = len(shape)
    if ndim < 2:
        raise InputError(f"need at least a 2-D image, got shape {tuple(shape)}")
    if ndim == 3 and shape[-1] in (3, 4) and min(shape[:2]) > 4:
        raise InputError(
            f"shape {tuple(shape)} looks like an RGB(A) colour image; colour photographs are not "
            "supported. If the last axis really holds fluorescence channels, pass axes 'YXC'"
        )
    defaults = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX", 6: "STCZYX"}
    if ndim not in defaults:
        raise InputError(f"cannot guess axes for a {ndim}-D array; pass them explicitly")
    return defaults[ndim]
