"""Volume-wise access for 3-D networks: ``Z`` becomes a spatial axis next to ``Y`` and ``X``.

A :class:`~.axes.Layout` treats every S, T and Z index as an independent plane; a
:class:`Volumes` view of the same layout indexes ``(Z, Y, X)`` volumes by their S and T
indices, reading and writing ``(C, Z, Y, X)`` blocks. Training windows of 3-D networks come
from :class:`VolumeSampler` (the same Y/X regions as the 2-D sampler, any Z origin).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .axes import Layout
from .normalize import NormStats
from .patches import DIHEDRAL, PatchSampler, Region

VOLUME_AXES = "ST"  # the axes that index independent volumes


@dataclass(frozen=True)
class Volumes:
    """The ``(Z, Y, X)`` volumes of an array with a Z axis.

    Raises
    ------
    InputError
        The layout has no Z axis.
    """

    layout: Layout

    def __post_init__(self) -> None:
        if "Z" not in self.layout.axes:
            raise InputError(f"a 3-D model needs data with a Z axis; the image's axes are "
                             f"{self.layout.axes!r} (use a 2-D model, --dims 2)")

    @property
    def depth(self) -> int:
        """Size of Z."""
        return self.layout.shape[self.layout.axes.index("Z")]

    @property
    def volume_shape(self) -> tuple[int, ...]:
        """Sizes of the axes that index volumes (S, T)."""
        lay = self.layout
        return tuple(n for a, n in zip(lay.axes, lay.shape, strict=True) if a in VOLUME_AXES)

    @property
    def n_volumes(self) -> int:
        """Number of volumes."""
        return int(np.prod(self.volume_shape, dtype=np.int64))

    def volumes(self) -> Iterator[tuple[int, ...]]:
        """Iterate over volume indices (tuples over S, T)."""
        return itertools.product(*(range(n) for n in self.volume_shape))

    def index(self, volume: tuple[int, ...], zs: slice, ys: slice,
              xs: slice) -> tuple[int | slice, ...]:
        """Full-array index of a window of one volume (C kept whole)."""
        it = iter(volume)
        spatial = {"Z": zs, "Y": ys, "X": xs}
        return tuple(next(it) if a in VOLUME_AXES else spatial.get(a, slice(None))
                     for a in self.layout.axes)

    def _order(self) -> list[int]:
        rest = [a for a in self.layout.axes if a not in VOLUME_AXES]
        return [rest.index(a) for a in "CZYX" if a in rest]

    def read(self, array, volume: tuple[int, ...], zs: slice, ys: slice,
             xs: slice) -> np.ndarray:
        """One window of one volume as float32 ``(C, Z, Y, X)``."""
        block = np.asarray(array[self.index(volume, zs, ys, xs)], dtype=np.float32)
        order = self._order()
        if "C" not in self.layout.axes:
            return np.moveaxis(block, order, [0, 1, 2])[None]
        return np.moveaxis(block, order, [0, 1, 2, 3])

    def write(self, array, volume: tuple[int, ...], zs: slice, ys: slice, xs: slice,
              block: np.ndarray) -> None:
        """Write a ``(C, Z, Y, X)`` block into one window of one volume."""
        order = self._order()
        if "C" not in self.layout.axes:
            array[self.index(volume, zs, ys, xs)] = np.moveaxis(block[0], [0, 1, 2], order)
        else:
            array[self.index(volume, zs, ys, xs)] = np.moveaxis(block, [0, 1, 2, 3], order)


def fit_patch_depth(depth: int, wanted: int, z_divisor: int) -> int:
    """The Z depth of 3-D training windows: ``wanted``, at most the stack's ``depth``,
    rounded down to a multiple of ``z_divisor`` (when the stack allows one)."""
    size = min(wanted, depth)
    return size - size % z_divisor if size >= z_divisor else size


class VolumeSampler(PatchSampler):
    """Draws normalised ``(N, C, D, P, P)`` float32 batches of random 3-D windows.

    Parameters are those of :class:`~.patches.PatchSampler`, plus ``depth``, the window's Z
    size. Augmentation draws one of ``transforms`` in Y/X and flips Z with probability 1/2.
    """

    def __init__(self, array, layout: Layout, stats: NormStats, size: int, region: Region,
                 partners: tuple = (), transforms: tuple[int, ...] = DIHEDRAL, *,
                 depth: int) -> None:
        super().__init__(array, layout, stats, size, region, partners, transforms)
        self.volumes = Volumes(layout)
        if not 1 <= depth <= self.volumes.depth:
            raise ValueError(f"window depth {depth} does not fit {self.volumes.depth} planes")
        self.depth = depth

    def read(self, volume: tuple[int, ...], z: int, y: int, x: int, which: int = 0
             ) -> np.ndarray:
        """One normalised ``(C, D, P, P)`` window of array ``which``."""
        s, d = self.size, self.depth
        block = self.volumes.read(self.arrays[which], volume, slice(z, z + d),
                                  slice(y, y + s), slice(x, x + s))
        return self.stats.normalize(block)

    def _origin(self, rng: np.random.Generator) -> tuple:
        """A random origin: the volume's index, then ``z, y, x``."""
        r = self.region
        volume = tuple(int(rng.integers(m)) for m in self.volumes.volume_shape)
        z = int(rng.integers(0, self.volumes.depth - self.depth + 1))
        return volume, z, int(rng.integers(r.y0, r.y1)), int(rng.integers(r.x0, r.x1))

    def _augment(self, windows: list[np.ndarray], rng: np.random.Generator
                 ) -> list[np.ndarray]:
        """A Y/X transform, then a Z flip with probability 1/2, the same for every array."""
        windows = super()._augment(windows, rng)
        if rng.integers(2):
            windows = [p[:, ::-1] for p in windows]
        return windows
