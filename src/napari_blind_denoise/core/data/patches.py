"""Random training windows read straight from numpy, zarr or dask arrays.

A band of the image (one patch high, at the bottom) is held out for validation when the
image is at least four patches tall (or wide); smaller images validate on patches that
overlap the training area, which still scores the network only on pixels it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .axes import Layout
from .normalize import NormStats

MIN_PATCH = 32  # smallest training patch edge chosen automatically


def fit_patch_size(layout: Layout, size: int, divisor: int) -> int:
    """The training patch edge for an image: ``size``, or smaller if the plane is smaller.

    A plane narrower than ``size`` (e.g. a 3-D stack of 60x57 crops with the default 64)
    trains on the largest multiple of ``divisor`` that fits, down to ``MIN_PATCH`` (or
    ``size``, if that was set smaller); smaller planes are refused.

    Raises
    ------
    InputError
        The plane is smaller than ``min(size, MIN_PATCH)`` after rounding to ``divisor``.
    """
    h, w = layout.height, layout.width
    if min(h, w) >= size:
        return size
    fitted = min(h, w) // divisor * divisor
    smallest = min(size, max(MIN_PATCH, divisor))
    if fitted < smallest:
        raise InputError(
            f"the image plane is {h}x{w} pixels, smaller than the {smallest}x{smallest} "
            "training patch it needs at least; use a larger image")
    return fitted


@dataclass(frozen=True)
class Region:
    """Allowed window origins ``[y0, y1) x [x0, x1)`` for a ``size``-pixel patch."""

    y0: int
    y1: int
    x0: int
    x1: int


def split_regions(layout: Layout, size: int) -> tuple[Region, Region, bool]:
    """Training and validation origin ranges; the flag says whether they are disjoint."""
    h, w = layout.height, layout.width
    full = Region(0, h - size + 1, 0, w - size + 1)
    if h >= 4 * size:
        return Region(0, h - 2 * size + 1, 0, w - size + 1), Region(h - size, h - size + 1,
                                                                    0, w - size + 1), True
    if w >= 4 * size:
        return Region(0, h - size + 1, 0, w - 2 * size + 1), Region(0, h - size + 1,
                                                                    w - size, w - size + 1), True
    return full, full, False


#: The 8 flips/rotations (indices for :func:`augment`).
DIHEDRAL: tuple[int, ...] = tuple(range(8))
#: The 4 that keep Y along Y and X along X (no 90° rotation, no transpose): for noise or
#: blind spots that differ between the axes, e.g. a scan-line correlation along X.
AXIS_PRESERVING: tuple[int, ...] = (0, 2, 4, 6)


def augment(patch: np.ndarray, k: int) -> np.ndarray:
    """One of the 8 dihedral transforms (rot90 ``k % 4`` times, flipped if ``k >= 4``)."""
    out = np.rot90(patch, k % 4, axes=(-2, -1))
    if k >= 4:
        out = out[..., ::-1]
    return out


class PatchSampler:
    """Draws normalised ``(N, C, P, P)`` float32 batches of random windows.

    Parameters
    ----------
    array
        Any array-like supporting numpy-style slicing.
    layout
        Its axes layout.
    stats
        Normalisation applied to every window.
    size
        Patch edge in pixels.
    region
        Allowed window origins.
    partners
        Further arrays of the same shape (e.g. a second noisy acquisition of the same
        field): :meth:`sample_all` reads the same windows, with the same transforms, from each.
    transforms
        The :func:`augment` transforms to draw from (default: all 8).
    """

    def __init__(self, array, layout: Layout, stats: NormStats, size: int, region: Region,
                 partners: tuple = (), transforms: tuple[int, ...] = DIHEDRAL) -> None:
        if not transforms or any(k not in DIHEDRAL for k in transforms):
            raise ValueError(f"transforms must be a non-empty subset of {DIHEDRAL}")
        self.arrays = (array, *partners)
        self.transforms = tuple(transforms)
        self.layout = layout
        self.stats = stats
        self.size = size
        self.region = region

    @property
    def array(self):
        """The first (or only) array."""
        return self.arrays[0]

    def read(self, plane: tuple[int, ...], y: int, x: int, which: int = 0) -> np.ndarray:
        """One normalised ``(C, P, P)`` window of array ``which``."""
        s = self.size
        block = self.layout.read(self.arrays[which], plane, slice(y, y + s), slice(x, x + s))
        return self.stats.normalize(block)

    def sample_all(self, n: int, rng: np.random.Generator,
                   augment_: bool = True) -> tuple[np.ndarray, ...]:
        """``n`` random windows of every array (same places and transforms in each)."""
        out: list[list[np.ndarray]] = [[] for _ in self.arrays]
        for _ in range(n):
            origin = self._origin(rng)
            windows = [self.read(*origin, i) for i in range(len(self.arrays))]
            if augment_:
                windows = self._augment(windows, rng)
            for dst, p in zip(out, windows, strict=True):
                dst.append(np.ascontiguousarray(p))
        return tuple(np.stack(o) for o in out)

    def _origin(self, rng: np.random.Generator) -> tuple:
        """A random window origin: the plane's index, then ``y, x`` (:meth:`read`'s
        arguments)."""
        r = self.region
        plane = tuple(int(rng.integers(m)) for m in self.layout.plane_shape)
        return plane, int(rng.integers(r.y0, r.y1)), int(rng.integers(r.x0, r.x1))

    def _augment(self, windows: list[np.ndarray], rng: np.random.Generator
                 ) -> list[np.ndarray]:
        """One random transform of ``transforms``, the same for every array's window."""
        k = self.transforms[int(rng.integers(len(self.transforms)))]
        return [augment(p, k) for p in windows]

    def sample(self, n: int, rng: np.random.Generator, augment_: bool = True) -> np.ndarray:
        """``n`` random windows of the first array, each randomly flipped/rotated (one of
        ``transforms``) when ``augment_``."""
        return self.sample_all(n, rng, augment_)[0]
