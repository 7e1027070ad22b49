"""Prediction with a 3-D network: each ``(Z, Y, X)`` volume in overlapping blocks.

Blocks are ``depth x edge x edge`` voxels, blended with ``sin^2`` ramps along Z, Y and X
(:func:`_weights3`). They are visited in Z rows (every block whose origin has the same Z),
each row in Y then X order; a band of whole Z planes holds the blending sums, and finished
planes are written as soon as no later Z row reaches them.

Work units (for dask workers, ``distributed.py``): a unit is a run of consecutive Z rows of
one volume (:func:`plan_volume_units`); it predicts again the Z rows before it whose blocks
reach its first planes (a halo) and gives its planes bitwise as :func:`predict_volumes`
writes them (:func:`predict_volume_unit`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .data.axes import Layout
from .data.tiling import tile_starts, tile_weights
from .data.volume import Volumes
from .events import PredictEvent
from .memory import output_align
from .predict import Unit, _Band, _cut, _round_tile


@dataclass(frozen=True)
class VolumeGrid:
    """The blocks of every volume: ``shape`` ``(Z, Y, X)`` of a volume, ``tiles`` the
    block's size, ``overlaps`` along each axis and ``starts`` the blocks' origins along
    each axis."""

    shape: tuple[int, int, int]
    tiles: tuple[int, int, int]
    overlaps: tuple[int, int, int]
    starts: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]

    @property
    def per_z_row(self) -> int:
        """Blocks in one Z row."""
        return len(self.starts[1]) * len(self.starts[2])

    @property
    def n_blocks(self) -> int:
        """Blocks of one volume."""
        return len(self.starts[0]) * self.per_z_row


def volume_grid(trained, layout: Layout, size: int, overlap: int) -> VolumeGrid:
    """The blocks of ``layout``'s volumes for a tile edge ``size`` (depth, height and width
    multiples of the network's divisors, at most the volume's; a shallow stack's blocks
    overlap in Z by at most a quarter of their depth)."""
    model = trained.config.model
    vols = Volumes(layout)
    shape = (vols.depth, layout.height, layout.width)
    tiles = (_round_tile(size, model.z_divisor, shape[0]),
             _round_tile(size, model.divisor, shape[1]),
             _round_tile(size, model.divisor, shape[2]))
    overlaps = (min(overlap, tiles[0] // 4), overlap, overlap)
    starts = tuple(tuple(tile_starts(n, t, o))
                   for n, t, o in zip(shape, tiles, overlaps, strict=True))
    return VolumeGrid(shape, tiles, overlaps, starts)  # type: ignore[arg-type]


def _predict_volume(net, norm, read, emit, blocks: int, channels: int, grid: VolumeGrid,
                    align: int = 1, zrows: range | None = None):
    """Predict the Z rows ``zrows`` (default: all) of one volume, yielding after each block.

    ``read(zs, ys, xs)`` gives a raw ``(C, Z, Y, X)`` window; ``emit(zs, blended)`` takes
    finished planes, ``(C * blocks, Z, Y, X)`` normalised, as soon as no later Z row of
    ``zrows`` reaches them (in multiples of ``align`` planes, except at the volume's end).
    Blocks are added into the band in the same order (Z row by Z row, each in Y then X
    order) whichever rows are asked for, so a plane gets bitwise the same value from any
    ``zrows`` holding every Z row that reaches it (:func:`predict_volume_unit` relies on it).
    """
    shape, tiles, overlaps, starts = grid.shape, grid.tiles, grid.overlaps, grid.starts
    zrows = range(len(starts[0])) if zrows is None else zrows
    band = _Band(channels * blocks, shape[1], shape[2])
    band.start = starts[0][zrows.start]
    for r in zrows:
        z0 = starts[0][r]
        band.reach(z0 + tiles[0])
        for y0 in starts[1]:
            for x0 in starts[2]:
                origin = (z0, y0, x0)
                at = [slice(o, o + t) for o, t in zip(origin, tiles, strict=True)]
                pred = net(norm.normalize(read(*at)))
                band.add(pred, _weights3(tiles, origin, shape, overlaps), *origin)
                yield
        final = starts[0][r + 1] if r + 1 < len(starts[0]) else shape[0]
        end = final if final == shape[0] else final - final % align
        if end > band.start:
            zs = slice(band.start, end)
            emit(zs, band.pop(end))


def predict_volumes(net, trained, data, outs, layout: Layout, size: int, overlap: int,
                    stop):
    """Every volume, block by block, into ``outs``; yields a :class:`PredictEvent` per
    block."""
    vols = Volumes(layout)
    grid = volume_grid(trained, layout, size, overlap)
    n_tiles = vols.n_volumes * grid.n_blocks
    align = output_align(outs, layout, grid.tiles[0], "Z")
    t0 = time.perf_counter()
    done = 0
    for volume in vols.volumes():
        def read(zs, ys, xs, volume=volume):
            return vols.read(data, volume, zs, ys, xs)

        def emit(zs, blended, volume=volume):
            _write_planes(trained, vols, outs, volume, zs, grid.tiles[2], blended)

        for _ in _predict_volume(net, trained.norm, read, emit, len(outs), layout.channels,
                                 grid, align):
            done += 1
            yield PredictEvent(tile=done, n_tiles=n_tiles, elapsed=time.perf_counter() - t0)
            if stop is not None and stop.is_set():
                return


def _weights3(tiles, origin, shape, overlaps) -> np.ndarray:
    """3-D blending weights ``(Z, Y, X)``: the 2-D ones times the same ramp along Z."""
    wyx = tile_weights(tiles[1:], origin[1:], shape[1:], overlaps[1])
    wz = tile_weights((tiles[0], 1), (origin[0], 0), (shape[0], 1), overlaps[0])[:, 0]
    return wz[:, None, None] * wyx[None]


def _write_planes(trained, vols: Volumes, outs, volume, zs: slice, tw: int,
                  blended: np.ndarray) -> None:
    """De-normalise finished Z planes ``(C * len(outs), Z, Y, X)`` and write each block of
    ``C`` channels into its output, a tile's width at a time."""
    c, w = vols.layout.channels, vols.layout.width
    for i, out in enumerate(outs):
        block = trained.norm.denormalize(blended[i * c:(i + 1) * c])
        for x0 in range(0, w, tw):
            x1 = min(w, x0 + tw)
            vols.write(out, volume, zs, slice(None), slice(x0, x1), block[..., x0:x1])


# -- work units: Z rows of blocks of one volume predicted on their own ---------------------

def plan_volume_units(layout: Layout, grid: VolumeGrid, bands: int = 1) -> list[Unit]:
    """Every volume of ``layout`` cut into ``bands`` units of consecutive Z rows of blocks
    (at most one per Z row), volume by volume.

    A unit's ``plane`` is the volume's index (over S, T), ``rows`` its Z rows, ``keep`` and
    ``read`` Z planes, ``tiles`` its blocks (without the halo's).
    """
    cuts = _cut(grid.starts[0], grid.tiles[0], grid.shape[0], bands)
    return [Unit(tuple(volume), rows, first, keep, read, (rows[1] - rows[0]) * grid.per_z_row)
            for volume in Volumes(layout).volumes()
            for rows, first, keep, read in cuts]


def unit_blocks(unit: Unit, grid: VolumeGrid) -> int:
    """Blocks a unit predicts, its halo's included."""
    return (unit.rows[1] - unit.first) * grid.per_z_row


def predict_volume_unit(net, norm, block: np.ndarray, unit: Unit, channels: int,
                        grid: VolumeGrid, blocks: int = 1) -> np.ndarray:
    """The finished planes ``unit.keep`` of one volume, ``(C * blocks, Z, Y, X)`` in the
    input's intensity units, bitwise equal to what :func:`predict_volumes` writes there.

    ``block`` is the volume's raw input planes ``unit.read``, float32 ``(C, Z, Y, X)``
    (``Volumes.read``); ``grid`` the whole image's (:func:`volume_grid`); ``net`` a
    ``core.predict._Net``.
    """
    top = unit.read[0]
    kept: list[np.ndarray] = []

    def read(zs: slice, ys: slice, xs: slice) -> np.ndarray:
        return block[:, zs.start - top:zs.stop - top, ys, xs]

    def emit(zs: slice, blended: np.ndarray) -> None:
        if zs.start >= unit.keep[0]:  # planes before it are the halo's, incomplete
            kept.append(blended)

    for _ in _predict_volume(net, norm, read, emit, blocks, channels, grid,
                             zrows=range(unit.first, unit.rows[1])):
        pass
    blended = np.concatenate(kept, axis=1)
    return np.concatenate([norm.denormalize(blended[i * channels:(i + 1) * channels])
                           for i in range(blocks)])
