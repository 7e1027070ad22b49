"""Several images as one training array: the planes of every file, cut to one plane size.

One model is trained on many files (``blind-denoise denoise a.tif b.tif -o out/``) by
handing the trainer a lazy ``S[C]YX`` stack (:class:`CropStack`): every 2-D plane of every
image (Z, T and S are independent planes to the 2-D networks) is covered by crops of the
smallest plane size among the images, overlapping where a plane is not a multiple of it, so
patches are sampled across all files in proportion to their area and no pixel is left out.
Nothing is copied: each read goes to the one file it falls in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import InputError
from .axes import Layout


def _starts(length: int, size: int) -> list[int]:
    """Origins of the fewest ``size``-long crops that cover ``length``, evenly spread."""
    n = math.ceil(length / size)
    return sorted({round(v) for v in np.linspace(0, length - size, n)})


class CropStack:
    """The planes of ``arrays`` (each with its :class:`Layout`) as one lazy ``S[C]YX`` array
    of crops of the smallest plane size.

    Supports what the trainer reads: ``shape``, ``dtype``, ``ndim``, ``axes`` and
    indexing with an integer ``S``, anything for ``C`` and slices for ``Y`` and ``X``.

    Raises
    ------
    InputError
        No images, or images with different channel counts.
    """

    def __init__(self, arrays: Sequence, layouts: Sequence[Layout]) -> None:
        if not arrays:
            raise InputError("no images to train on")
        channels = {lay.channels for lay in layouts}
        if len(channels) > 1:
            raise InputError(f"the images have different channel counts {sorted(channels)}; "
                             "one model is trained for one channel count")
        self.channels = channels.pop()
        self.has_c = any("C" in lay.axes for lay in layouts)
        h = min(lay.height for lay in layouts)
        w = min(lay.width for lay in layouts)
        self.crops = [(i, plane, y, x)
                      for i, lay in enumerate(layouts) for plane in lay.planes()
                      for y in _starts(lay.height, h) for x in _starts(lay.width, w)]
        self.arrays, self.layouts = list(arrays), list(layouts)
        self.axes = "SCYX" if self.has_c else "SYX"
        self.shape = (len(self.crops), *((self.channels,) if self.has_c else ()), h, w)
        self.dtype = np.result_type(*(np.dtype(a.dtype) for a in arrays))
        self.ndim = len(self.shape)

    @property
    def layout(self) -> Layout:
        """The stack's own layout."""
        return Layout(self.axes, self.shape)

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        s, *rest = key
        if not isinstance(s, int | np.integer):
            raise TypeError("a CropStack is read one crop (integer S index) at a time")
        c_key = rest[0] if self.has_c else slice(None)
        ys, xs = rest[-2:]
        i, plane, y0, x0 = self.crops[int(s)]
        lay = self.layouts[i]
        ys, xs = self._within(ys, y0, self.shape[-2]), self._within(xs, x0, self.shape[-1])
        block = lay.to_cyx(np.asarray(self.arrays[i][lay.index(plane, ys, xs)]))
        block = block[c_key]
        return block if self.has_c else block[0]

    @staticmethod
    def _within(k, origin: int, size: int) -> slice:
        """A Y or X window (a slice) of a crop as one of its image."""
        if not isinstance(k, slice):
            raise TypeError("a CropStack reads Y and X as slices (windows)")
        start, stop, step = k.indices(size)
        if step < 0:
            raise TypeError("a CropStack reads windows in increasing order only")
        return slice(start + origin, max(stop, start) + origin, step)

    def __len__(self) -> int:
        return self.shape[0]
