"""Known-corrupted pixels marked as unknown (NaN), read lazily window by window.

Methods that accept missing pixels (``Method.accepts_missing``: Self2Self) never put a
non-finite pixel into the network's input nor score it, and fill it in at prediction: the
paper's inpainting mode. :func:`exclude_pixels` marks a user mask (dead or hot pixels,
salt-and-pepper, a damaged region) and saturated values without copying the image.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


class ExcludedPixels:
    """``data`` as float32 with NaN where ``mask`` is set or the value is ``>= above``.

    Supports what the pipeline reads: ``shape``, ``dtype``, ``ndim``, numpy-style slicing and
    ``np.asarray``. The wrapped arrays are read only window by window.
    """

    def __init__(self, data, mask=None, above: float | None = None) -> None:
        shape = tuple(data.shape)
        if mask is not None and tuple(mask.shape) != shape:
            raise InputError(f"the exclusion mask's shape {tuple(mask.shape)} differs from the "
                             f"image's {shape}")
        self.data, self.mask, self.above = data, mask, above
        self.shape = shape
        self.dtype = np.dtype(np.float32)
        self.ndim = len(shape)

    def __getitem__(self, key) -> np.ndarray:
        block = np.array(self.data[key], dtype=np.float32)
        if self.mask is not None:
            block[np.asarray(self.mask[key]) != 0] = np.nan
        if self.above is not None:
            block[block >= self.above] = np.nan
        return block

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        block = self[...]
        return block if dtype is None else block.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def exclude_pixels(data, mask=None, *, above: float | None = None):
    """``data`` with the pixels of ``mask`` (non-zero = excluded) and values ``>= above``
    (saturated) marked unknown; ``data`` itself when neither is given.

    Raises
    ------
    InputError
        The mask's shape differs from the image's.
    """
    if mask is None and above is None:
        return data
    return ExcludedPixels(data, mask, above)
