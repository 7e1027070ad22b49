"""Known-corrupted pixels marked as unknown (NaN), read lazily window by window.

Methods that accept missing pixels (``Method.accepts_missing``: Self2Self) never put a
non-finite pixel into the network's input nor score it, and fill it in at prediction: the
paper's inpainting mode. :func:`exclude_pixels` marks, without copying the image, a user mask
(dead or hot pixels, a damaged region), saturated values (``above``), dead or pepper values
(``below``) and salt-and-pepper impulses found by :class:`ImpulseMask`.

The impulse rule: a pixel is an impulse when

1. its value is at the data's minimum or maximum (within ``EXTREME_TOLERANCE`` of the range),
   where salt-and-pepper noise, dead and hot pixels put it, and
2. it differs from the median of its 8 neighbours by more than ``IMPULSE_SIGMAS`` times the
   noise's robust standard deviation (and by more than ``IMPULSE_MIN_JUMP`` of the range).

The noise's standard deviation is ``1.4826 * MAD`` of the residuals ``pixel - median of its 8
neighbours`` over the pixels that are not at an extreme (up to ``SIGMA_PLANES`` planes); the
median of the 8 neighbours mirrors at the image's border. Saturated regions (neighbours
near the extreme too) and the noise's own extremes are not impulses; an impulse on a
background as bright as itself cannot be told from it and is kept.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .axes import Layout, validate_axes

# "at an extreme": within this fraction of the data's range of its minimum or maximum
EXTREME_TOLERANCE = 1e-3
# an impulse differs from its neighbours' median by more than this many noise stds ...
# (chosen on synthetic images and the W2S tuning pairs, benchmarks/impulses.py: at 3 it finds
# 85-99 % of the impulses more than 3 stds from the clean value and flags 0.00-0.19 % of the
# pixels of images without impulses; 4 and 5 find 10-40 % fewer)
IMPULSE_SIGMAS = 3.0
# ... and by more than this fraction of the range (noise-free or quantised images: std 0)
IMPULSE_MIN_JUMP = 0.02
# planes whose residuals give the noise's standard deviation (spread over the stack)
SIGMA_PLANES = 16
_MAD_TO_STD = 1.4826


def _layout(data, axes: str | None) -> Layout:
    """The layout of ``data`` (``axes`` ``None``: the last two axes are Y and X)."""
    if axes is None:
        axes = "STZ"[max(5 - len(data.shape), 0):] + "YX"
    return validate_axes(axes, tuple(data.shape))


def neighbour_residual(block: np.ndarray) -> np.ndarray:
    """``block - median of the 8 neighbours`` in the last two axes (mirrored at the edges;
    non-finite pixels count as the block's median)."""
    from scipy import ndimage

    block = np.asarray(block, np.float32)
    finite = np.isfinite(block)
    if not finite.all():
        fill = np.median(block[finite]) if finite.any() else 0.0
        block = np.where(finite, block, np.float32(fill))
    footprint = np.ones((1,) * (block.ndim - 2) + (3, 3), bool)
    footprint[..., 1, 1] = False
    return block - ndimage.median_filter(block, footprint=footprint, mode="mirror")


class ImpulseMask:
    """Salt-and-pepper pixels of ``data``: ``True`` where the impulse rule (module docstring)
    holds, read lazily like the data (numpy-style integer and slice keys).

    The data's extremes and the noise's standard deviation are measured at the first read
    (one pass over the data, in the thread that reads: the trainer's, not a GUI's); a window
    is read with a one-pixel halo in Y and X, so that every window, tile or plane gives the
    same answer for a pixel.

    Attributes
    ----------
    low, high
        The data's minimum and maximum (finite values); ``None`` until measured.
    sigma
        The noise's robust standard deviation (input units); ``None`` until measured.
    threshold
        The smallest difference from the neighbours' median an impulse has.
    """

    def __init__(self, data, axes: str | None = None, *, sigmas: float = IMPULSE_SIGMAS
                 ) -> None:
        self.data, self.layout, self.sigmas = data, _layout(data, axes), sigmas
        self.shape, self.ndim, self.dtype = tuple(data.shape), len(data.shape), np.dtype(bool)
        self._y, self._x = self.layout.axes.index("Y"), self.layout.axes.index("X")
        self.low = self.high = self.sigma = self.threshold = None

    def measure(self) -> None:
        """The data's extremes, the noise's standard deviation and the threshold (once).

        Raises
        ------
        InputError
            The data has no finite value.
        """
        if self.threshold is not None:
            return
        lows, highs = [], []
        for plane in self.layout.planes():
            block = np.asarray(self.data[self.layout.index(plane, slice(None), slice(None))],
                               np.float32)
            finite = block[np.isfinite(block)]
            if finite.size:
                lows.append(finite.min())
                highs.append(finite.max())
        if not lows:
            raise InputError("the image has no known (finite) pixel")
        self.low, self.high = float(min(lows)), float(max(highs))
        self.sigma = self._noise_std()
        self.threshold = max(self.sigmas * self.sigma, IMPULSE_MIN_JUMP * (self.high - self.low))

    def at_extreme(self, values: np.ndarray) -> np.ndarray:
        """Where ``values`` sit at the data's minimum or maximum (after :meth:`measure`)."""
        tol = EXTREME_TOLERANCE * (self.high - self.low)
        return (values <= self.low + tol) | (values >= self.high - tol)

    def _noise_std(self) -> float:
        planes = list(self.layout.planes())
        picks = np.unique(np.linspace(0, len(planes) - 1, min(SIGMA_PLANES, len(planes)))
                          .round().astype(int))
        residuals = []
        for i in picks:
            key = self.layout.index(planes[i], slice(None), slice(None))
            block = np.moveaxis(np.asarray(self.data[key], np.float32),
                                *self._yx_positions(key))
            r = neighbour_residual(block)
            keep = np.isfinite(block) & ~self.at_extreme(block)
            residuals.append(r[keep])
        r = np.concatenate(residuals)
        if r.size == 0:
            return 0.0
        return float(_MAD_TO_STD * np.median(np.abs(r - np.median(r))))

    def _yx_positions(self, key: tuple) -> tuple[list[int], list[int]]:
        """``(from, to)`` for ``np.moveaxis``: Y and X of a block read with ``key`` (slices
        on Y and X) to the last two axes."""
        kept = [i for i, k in enumerate(key) if not isinstance(k, (int, np.integer))]
        return [kept.index(self._y), kept.index(self._x)], [-2, -1]

    def __getitem__(self, key) -> np.ndarray:
        key = _full_key(key, self.ndim)
        picks, read = {}, list(key)
        for axis in (self._y, self._x):
            idx = np.arange(self.shape[axis])[key[axis]]
            if idx.size == 0:
                return np.broadcast_to(False, self.shape)[key].copy()
            start = max(int(idx.min()) - 1, 0)
            read[axis] = slice(start, min(int(idx.max()) + 2, self.shape[axis]))
            picks[axis] = idx - start  # an int for an int key: the axis is dropped
        self.measure()
        read = tuple(read)
        src, dst = self._yx_positions(read)
        block = np.moveaxis(np.asarray(self.data[read], np.float32), src, dst)
        flags = self.at_extreme(block) & (np.abs(neighbour_residual(block)) > self.threshold)
        flags = np.take(np.take(flags, picks[self._y], axis=-2), picks[self._x], axis=-1)
        # back to numpy's order for ``data[key]``: the kept axes in their original order
        kept = [i for i, k in enumerate(key) if not isinstance(k, (int, np.integer))]
        yx = [a for a in (self._y, self._x) if a in kept]
        return np.moveaxis(flags, list(range(flags.ndim - len(yx), flags.ndim)),
                           [kept.index(a) for a in yx])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        flags = self[...]
        return flags if dtype is None else flags.astype(dtype)


def _full_key(key, ndim: int) -> tuple:
    """``key`` as one integer or slice per axis.

    Raises
    ------
    TypeError
        Anything but integers, slices and one Ellipsis.
    """
    key = key if isinstance(key, tuple) else (key,)
    if any(k is Ellipsis for k in key):
        i = next(i for i, k in enumerate(key) if k is Ellipsis)
        key = key[:i] + (slice(None),) * (ndim - len(key) + 1) + key[i + 1:]
    key = key + (slice(None),) * (ndim - len(key))
    if len(key) != ndim or not all(isinstance(k, (int, np.integer, slice)) for k in key):
        raise TypeError(f"excluded pixels are read with integers and slices, not {key!r}")
    return key


class ExcludedPixels:
    """``data`` as float32 with NaN where ``mask`` is set, the value is ``>= above`` or
    ``<= below``, or ``impulses`` (an :class:`ImpulseMask`) flags it.

    Supports what the pipeline reads: ``shape``, ``dtype``, ``ndim``, numpy-style slicing and
    ``np.asarray``. The wrapped arrays are read only window by window.
    """

    def __init__(self, data, mask=None, above: float | None = None,
                 below: float | None = None, impulses: ImpulseMask | None = None,
                 axes: str | None = None) -> None:
        shape = tuple(data.shape)
        if mask is not None and tuple(mask.shape) != shape:
            raise InputError(f"the exclusion mask's shape {tuple(mask.shape)} differs from the "
                             f"image's {shape}")
        self.data, self.mask, self.above, self.below = data, mask, above, below
        self.impulses, self.axes = impulses, axes
        self.shape = shape
        self.dtype = np.dtype(np.float32)
        self.ndim = len(shape)

    def rules(self, key) -> dict[str, np.ndarray]:
        """The values of ``data[key]`` (float32) under ``"values"``, and per rule in use
        (``mask``, ``above``, ``below``, ``impulses``) where it excludes a pixel."""
        block = np.array(self.data[key], dtype=np.float32)
        out = {"values": block}
        if self.mask is not None:
            out["mask"] = np.asarray(self.mask[key]) != 0
        if self.above is not None:
            out["above"] = block >= self.above
        if self.below is not None:
            out["below"] = block <= self.below
        if self.impulses is not None:
            out["impulses"] = self.impulses[key]
        return out

    def __getitem__(self, key) -> np.ndarray:
        rules = self.rules(key)
        block = rules.pop("values")
        for excluded in rules.values():
            block[excluded] = np.nan
        return block

    def counts(self) -> dict[str, int]:
        """Pixels each rule excludes (a pixel may be excluded by several) and ``total``:
        the pixels known before and unknown now. One pass over the data, plane by plane."""
        counts = dict.fromkeys(["total", *(r for r in ("mask", "above", "below", "impulses")
                                           if self._uses(r))], 0)
        layout = _layout(self.data, self.axes)
        for plane in layout.planes():
            rules = self.rules(layout.index(plane, slice(None), slice(None)))
            known = np.isfinite(rules.pop("values"))
            union = np.zeros_like(known)
            for name, excluded in rules.items():
                counts[name] += int(np.count_nonzero(excluded))
                union |= excluded
            counts["total"] += int(np.count_nonzero(union & known))
        return counts

    def _uses(self, rule: str) -> bool:
        return getattr(self, rule) is not None

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        block = self[...]
        return block if dtype is None else block.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def exclude_pixels(data, mask=None, *, above: float | None = None,
                   below: float | None = None, impulses: bool = False,
                   axes: str | None = None):
    """``data`` with known-corrupted pixels marked unknown (NaN); ``data`` itself when no
    rule is given.

    Parameters
    ----------
    data
        The image (numpy, zarr, dask); read lazily, never modified.
    mask
        An array of ``data``'s shape, non-zero where a pixel is corrupted.
    above
        Values ``>= above`` are excluded (saturated, hot pixels).
    below
        Values ``<= below`` are excluded (dead pixels, pepper).
    impulses
        Exclude salt-and-pepper impulses (:class:`ImpulseMask`, the rule in the module
        docstring); measures the data's extremes and noise first (one pass).
    axes
        ``data``'s axes (``"YX"``, ``"ZYX"``, ``"CYX"``...): where Y and X are for the
        impulses' neighbours and the counts' planes; ``None``: the last two axes.

    Raises
    ------
    InputError
        The mask's shape differs from the image's.
    """
    if mask is None and above is None and below is None and not impulses:
        return data
    found = ImpulseMask(data, axes) if impulses else None
    return ExcludedPixels(data, mask, above, below, found, axes)
