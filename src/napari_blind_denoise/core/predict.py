"""Tiled, streamed prediction with smooth blending, writing tile by tile.

A 3-D network (``config.model.dims == 3``) predicts each ``(Z, Y, X)`` volume in blocks of
``depth x edge x edge`` voxels overlapping and blended in Z as in Y and X
(``core.volume_predict``); a band of Z planes takes the place of the band of rows, and
finished planes are written as soon as no later block can touch them.

Each 2-D plane is processed in strips of tiles; a strip's finished rows are written to the
output (numpy or zarr) as soon as no later tile can touch them (to a chunked output, whole
chunk rows at a time, so each chunk is written once), so memory holds at most a tile row
and one chunk row of one plane whatever the size of the stack. The tile edge is lowered
when needed to keep that within ``TileConfig.memory_budget`` (``core.memory``).
"""

from __future__ import annotations

import copy
import itertools
import logging
import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from .config import TileConfig
from .data.axes import Layout
from .data.tiling import tile_starts, tile_weights
from .data.validate import check_image
from .device import (
    autocast,
    configure_threads,
    device_free_bytes,
    free_memory,
    memory_format,
    pick_device,
    to_memory_format,
)
from .errors import InputError
from .events import PredictEvent
from .memory import (
    MemoryPlan,
    activation_bytes_per_pixel,
    device_tile,
    output_align,
    plan_tiles,
)
from .trained import ChannelModels, TrainedModel

if TYPE_CHECKING:
    from .methods.base import Inferrer


def _round_tile(size: int, divisor: int, limit: int) -> int:
    """Largest multiple of ``divisor`` not above ``size`` or ``limit`` (the image size).

    Tiles then never need padding inside the network; only images smaller than ``divisor``
    fall back to the network's own mirror padding.
    """
    size = min(size, limit)
    return max(size - size % divisor, min(divisor, limit))


def check_compatible(trained: TrainedModel, layout: Layout) -> None:
    """Refuse data whose channel count differs from the model's, and data without a Z axis
    for a 3-D model."""
    if trained.config.model.dims == 3 and "Z" not in layout.axes:
        raise InputError(
            f"the model is a 3-D network (trained on {trained.axes} volumes) and predicts "
            f"volumes with a Z axis, but the image's axes are {layout.axes!r}; give a ZYX "
            "stack, or train a 2-D model (dims 2) for single planes")
    if layout.channels != trained.channels:
        raise InputError(
            f"the model was trained on {trained.channels} channel(s) (axes {trained.axes}) "
            f"but the image has {layout.channels} (axes {layout.axes})")


logger = logging.getLogger("napari_blind_denoise")


class _Net:
    """Applies the network to one normalised ``(C, Y, X)`` tile."""

    def __init__(self, trained: TrainedModel, device: torch.device, mode: str | None,
                 tta: bool = False, infer: Inferrer | None = None) -> None:
        spec = trained.spec
        if infer is None:
            infer = spec.inferrer(trained, mode or spec.inference_modes(trained.config)[0])
        self.infer = infer
        model = trained.model
        if next(model.parameters()).device != device:  # never move the caller's model
            model = copy.deepcopy(model).to(device)
        self.format = memory_format(trained.config.model.dims)
        self.model = to_memory_format(model.eval(), self.format)
        self.device = device
        # test-time augmentation: the flips/rotations the method trained with
        self.transforms = spec.transforms(trained.config) if tta else (0,)

    def __call__(self, tile: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(tile)[None].to(self.device)
        total = None
        with torch.inference_mode(), autocast(self.device):
            for k in self.transforms:
                t = dihedral(x, k).contiguous(memory_format=self.format)
                y = undo_dihedral(self.infer(self.model, t).float(), k)
                total = y if total is None else total + y
        return (total[0] / len(self.transforms)).cpu().numpy()


# "auto" test-time augmentation: at most this many megapixels of extra passes (the image's
# pixels times the transforms beyond the first), about 15 s on 2 CPU cores at the default
# tile's 1.09 MPix/s (docs/results/2026-12-02-predict-speed.txt): a 512x512 plane gets the 8
# transforms, an 8-plane 2048x2048 stack none
TTA_AUTO_MEGAPIXELS = 16.0


def resolve_tta(tta: bool | str, trained: TrainedModel, layout: Layout,
                inference: str | None = None) -> bool:
    """``tta`` as a bool: ``"auto"`` is on when the method says its ``inference`` mode gains
    from the flips/rotations (``Method.auto_tta``) and the extra passes cost at most
    :data:`TTA_AUTO_MEGAPIXELS`."""
    if tta != "auto":
        return bool(tta)
    spec, config = trained.spec, trained.config
    mode = inference or spec.inference_modes(config)[0]
    if not spec.auto_tta(config, mode):
        return False
    pixels = layout.n_planes * layout.height * layout.width * layout.channels
    return pixels * (len(spec.transforms(config)) - 1) / 1e6 <= TTA_AUTO_MEGAPIXELS


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """One of the 8 flips/rotations of ``x`` (..., Y, X): ``rot90`` ``k % 4`` times, then a
    flip along X when ``k >= 4``."""
    y = torch.rot90(x, k % 4, dims=(-2, -1))
    return torch.flip(y, dims=(-1,)) if k >= 4 else y


def undo_dihedral(y: torch.Tensor, k: int) -> torch.Tensor:
    """Inverse of :func:`dihedral`."""
    if k >= 4:
        y = torch.flip(y, dims=(-1,))
    return torch.rot90(y, -(k % 4), dims=(-2, -1))


def predict(
    trained: TrainedModel,
    data,
    axes: str | None = None,
    *,
    tile: TileConfig | None = None,
    out=None,
    device: str | torch.device = "auto",
    inference: str | None = None,
    stop: threading.Event | None = None,
    inferrer: Inferrer | None = None,
    extras: Sequence = (),
) -> Generator[PredictEvent, None, object]:
    """Denoise ``data`` tile by tile.

    Parameters
    ----------
    trained
        Model from :func:`train` or :func:`load_model`.
    data
        numpy / zarr / dask array; never modified.
    axes
        Axes of ``data`` (``None``: the model's axes if the dimensions match, else a guess).
    tile
        Tile size, overlap and memory budget (the tile edge is lowered when the tiles asked
        for would hold more than the budget; the events carry the plan).
    out
        Array of ``data.shape`` to write into (float32 recommended); a new numpy array if None.
    inference
        An inference mode the model's method offers (``Method.inference_modes``; ``None``:
        its default). ``"unmasked"``: one pass; ``"phases"`` (grid-masked models): every
        pixel predicted while masked, ``grid_period**2`` times slower.
    stop
        Set it to end early; rows not yet reached stay as initialised in ``out``.
    inferrer
        Instead of an inference mode: the method's own ``(network, tile) -> tile`` function
        (e.g. a per-pixel statistic of its stochastic passes, for an extra output).
    extras
        Arrays of ``data.shape`` for the extra channel blocks of a joint ``inferrer``
        (``Method.joint_inferrer``): it returns ``C * (1 + len(extras))`` channels, the
        denoised ones go into ``out`` and each further block of ``C`` into its array, all
        blended and de-normalised alike.

    Yields
    ------
    PredictEvent
        One per tile; ``memory`` is the :class:`~napari_blind_denoise.core.memory.MemoryPlan`.

    Returns
    -------
    array
        ``out``, in the input's intensity units (float32).
    """
    if isinstance(trained, ChannelModels):  # one model per channel: each its channel
        from .separate_predict import predict_channels

        return (yield from predict_channels(trained, data, axes, tile=tile, out=out,
                                            device=device, inference=inference, stop=stop,
                                            inferrer=inferrer, extras=extras))
    tile = tile or TileConfig()
    layout = check_image(data, trained.axes_for(tuple(data.shape), axes))
    check_compatible(trained, layout)
    device = device if isinstance(device, torch.device) else pick_device(device)
    if device.type == "cpu":
        configure_threads()
    if out is None:
        out = np.zeros(layout.shape, np.float32)
    for array in (out, *extras):
        if tuple(array.shape) != layout.shape:
            raise InputError(f"output shape {tuple(array.shape)} differs from input "
                             f"{layout.shape}")
    net = _Net(trained, device, inference, resolve_tta(tile.tta, trained, layout, inference),
               inferrer)
    plan = plan_memory(trained, layout, (out, *extras), data, tile, device, inference)
    size, overlap = plan.tile_size, plan.overlap
    while True:
        try:
            for ev in _predict_all(net, trained, data, (out, *extras), layout, size,
                                   overlap, stop):
                yield replace(ev, memory=plan)
            return out
        except torch.OutOfMemoryError:
            # GPU memory: start again with tiles of half the edge, down to MIN_OOM_TILE
            free_memory(device)
            if size // 2 < MIN_OOM_TILE:
                raise InputError(f"out of memory on {device} even with {size}-pixel tiles; "
                                 "free the device or use --device cpu") from None
            size //= 2
            overlap = min(overlap, size // 4)
            logger.warning("out of memory on %s: retrying prediction with %d-pixel tiles",
                           device, size)


MIN_OOM_TILE = 64  # the smallest tile edge an out-of-memory retry goes down to


def plan_memory(trained: TrainedModel, layout: Layout, outs, data, tile: TileConfig,
                device: torch.device, inference: str | None = None) -> MemoryPlan:
    """The tiling :func:`predict` uses for ``data`` into ``outs`` within
    ``tile.memory_budget`` (:func:`~napari_blind_denoise.core.memory.plan_tiles`)."""
    # the probe pass runs the method's inference afresh: an inferrer may keep state (a
    # seeded generator drawn tile by tile) that a probe would advance
    model = trained.config.model
    divisor, zdiv = model.divisor, (model.z_divisor if model.dims == 3 else None)
    if device.type == "cpu":
        return plan_tiles(_Net(trained, device, inference), layout, outs, data,
                          tile_size=tile.tile_size, overlap=tile.overlap, divisor=divisor,
                          budget_mb=tile.memory_budget, z_divisor=zdiv)
    # an accelerator: the activations in device memory bound the tile, the budget the rest
    size, free = tile.tile_size, device_free_bytes(device)
    if free is not None:
        per_pixel = activation_bytes_per_pixel(_Net(trained, device, inference),
                                               layout.channels, divisor, zdiv)
        size = device_tile(per_pixel, free, tile.tile_size, divisor, dims=model.dims)
        if size < tile.tile_size:
            logger.info("%d-pixel tiles fit the %.0f MB free on %s", size, free / 2**20,
                        device)
    return plan_tiles(None, layout, outs, data, tile_size=size, overlap=tile.overlap,
                      divisor=divisor, budget_mb=tile.memory_budget, z_divisor=zdiv)


def tile_grid(trained: TrainedModel, layout: Layout, size: int, overlap: int):
    """The tiles of every plane for tiles of edge ``size``: ``((th, tw), (ys, xs))``, the
    tile's height and width (multiples of the network's divisor, at most the plane's) and
    the tiles' origins along Y and X."""
    div = trained.config.model.divisor
    th = _round_tile(size, div, layout.height)
    tw = _round_tile(size, div, layout.width)
    return (th, tw), (tile_starts(layout.height, th, overlap),
                      tile_starts(layout.width, tw, overlap))


def _predict_all(net, trained, data, outs, layout: Layout, size: int, overlap: int, stop):
    """Every plane, tile by tile, into ``outs`` (the denoised image, then the arrays of a
    joint inferrer's extra blocks); yields one :class:`PredictEvent` per tile."""
    if trained.config.model.dims == 3:
        from .volume_predict import predict_volumes

        yield from predict_volumes(net, trained, data, outs, layout, size, overlap, stop)
        return
    (th, tw), (ys, xs) = grid = tile_grid(trained, layout, size, overlap)
    n_tiles = layout.n_planes * len(ys) * len(xs)
    align = output_align(outs, layout, th)
    t0 = time.perf_counter()
    done = 0
    for plane in layout.planes():
        def read(rows, cols, plane=plane):
            return layout.read(data, plane, rows, cols)

        def emit(rows, blended, plane=plane):
            _write_rows(trained, layout, outs, plane, rows, tw, blended)

        for _ in _predict_plane(net, trained.norm, read, emit, len(outs), layout, grid,
                                overlap, align):
            done += 1
            yield PredictEvent(tile=done, n_tiles=n_tiles, elapsed=time.perf_counter() - t0)
            if stop is not None and stop.is_set():
                return


class _Band:
    """Blending sums of the rows ``[start, start + rows)`` of one plane (of the Z planes
    of one volume: ``rest`` is then ``(height, width)``)."""

    def __init__(self, channels: int, *rest: int) -> None:
        self.start = 0
        self.num = np.zeros((channels, 0, *rest), np.float32)
        self.den = np.zeros((0, *rest), np.float32)

    def reach(self, end: int) -> None:
        """Hold rows up to ``end`` (new rows are zero)."""
        grow = end - self.start - self.den.shape[0]
        if grow > 0:
            c, _, *rest = self.num.shape
            self.num = np.concatenate([self.num, np.zeros((c, grow, *rest), np.float32)],
                                      axis=1)
            self.den = np.concatenate([self.den, np.zeros((grow, *rest), np.float32)], axis=0)

    def add(self, pred: np.ndarray, wgt: np.ndarray, y0: int, *origin: int) -> None:
        """Add a weighted tile at ``(y0, x0)`` (``(z0, y0, x0)``)."""
        by = y0 - self.start
        at = (slice(by, by + wgt.shape[0]),
              *(slice(o, o + n) for o, n in zip(origin, wgt.shape[1:], strict=True)))
        self.num[(slice(None), *at)] += pred * wgt
        self.den[at] += wgt

    def pop(self, end: int) -> np.ndarray:
        """The blended rows ``[start, end)``, dropped from the band."""
        k = end - self.start
        blended = self.num[:, :k] / self.den[:k]
        self.num, self.den = self.num[:, k:], self.den[k:]
        self.start = end
        return blended


def _predict_plane(net, norm, read, emit, blocks: int, layout: Layout, grid, overlap: int,
                   align: int = 1, rows: range | None = None):
    """Predict the tile rows ``rows`` (default: all) of one plane, yielding after each tile.

    ``read(ys, xs)`` gives a raw ``(C, Y, X)`` window; ``emit(ys, blended)`` takes finished
    rows, ``(C * blocks, Y, X)`` normalised, as soon as no later tile of ``rows`` reaches
    them (in multiples of ``align`` rows, except at the plane's end). Each tile is added
    into the band of blending sums in the same order (row by row, left to right) whichever
    rows are asked for, so a row gets bitwise the same value from any ``rows`` holding every
    tile row that reaches it (:func:`predict_unit` relies on it).
    """
    (th, tw), (ys, xs) = grid
    h, w = layout.height, layout.width
    rows = range(len(ys)) if rows is None else rows
    band = _Band(layout.channels * blocks, w)
    band.start = ys[rows.start]
    for r in rows:
        y0 = ys[r]
        band.reach(y0 + th)
        for x0 in xs:
            raw = read(slice(y0, y0 + th), slice(x0, x0 + tw))
            pred = net(norm.normalize(raw))
            band.add(pred, tile_weights((th, tw), (y0, x0), (h, w), overlap), y0, x0)
            yield
        final = ys[r + 1] if r + 1 < len(ys) else h  # no later tile reaches these rows
        end = final if final == h else final - final % align  # whole output chunks
        if end > band.start:
            start = band.start
            emit(slice(start, end), band.pop(end))


def _write_rows(trained, layout: Layout, outs, plane, rows: slice, tw: int,
                blended: np.ndarray) -> None:
    """De-normalise finished rows ``(C * len(outs), Y, X)`` and write each block of ``C``
    channels into its output, tile by tile."""
    c, w = layout.channels, layout.width
    for i, out in enumerate(outs):
        block = trained.norm.denormalize(blended[i * c:(i + 1) * c])
        for x0 in range(0, w, tw):
            x1 = min(w, x0 + tw)
            layout.write(out, plane, rows, slice(x0, x1), block[:, :, x0:x1])


# -- work units: tile rows of one plane predicted on their own (e.g. by a dask worker) ------

@dataclass(frozen=True)
class Unit:
    """Tile rows ``rows`` (``[start, stop)`` indices into the grid) of ``plane`` (for a 3-D
    network: Z rows of blocks of the volume ``plane``, rows being Z planes,
    ``core.volume_predict.plan_volume_units``).

    It gives the output rows ``keep`` (image rows ``[start, stop)``), the rows no tile row
    after ``rows`` reaches. Rows at its top are also reached by tile rows before ``rows``:
    those (from ``first``) are predicted again, a halo, so that every kept row gets all its
    tiles, added in the same order as :func:`predict` adds them. ``read``: the input rows
    the unit needs; ``tiles``: the tiles of ``rows`` (its share of the progress).
    """

    plane: tuple[int, ...]
    rows: tuple[int, int]
    first: int
    keep: tuple[int, int]
    read: tuple[int, int]
    tiles: int


def _cut(starts, tile: int, length: int, bands: int
         ) -> list[tuple[tuple[int, int], int, tuple[int, int], tuple[int, int]]]:
    """Tile rows of origins ``starts`` (tiles ``tile`` long over ``[0, length)``) cut into
    ``bands`` runs (at most one per tile row): per run ``(rows, first, keep, read)`` as in
    :class:`Unit`."""
    n = len(starts)
    bands = max(1, min(bands, n))
    edges = [round(i * n / bands) for i in range(bands + 1)]
    cuts = []
    for r0, r1 in itertools.pairwise(edges):
        first = next(r for r in range(r0 + 1) if starts[r] + tile > starts[r0])
        keep = (starts[r0], starts[r1] if r1 < n else length)
        cuts.append(((r0, r1), first, keep, (starts[first], starts[r1 - 1] + tile)))
    return cuts


def plan_units(layout: Layout, grid, bands: int = 1) -> list[Unit]:
    """Every plane of ``layout`` cut into ``bands`` units of consecutive tile rows (at most
    one per tile row) for the tile ``grid`` of :func:`tile_grid`, plane by plane."""
    (th, _), (ys, xs) = grid
    cuts = _cut(ys, th, layout.height, bands)
    return [Unit(tuple(plane), rows, first, keep, read, (rows[1] - rows[0]) * len(xs))
            for plane in layout.planes()
            for rows, first, keep, read in cuts]


def predict_unit(net, norm, block: np.ndarray, unit: Unit, layout: Layout, grid,
                 overlap: int, blocks: int = 1) -> np.ndarray:
    """The finished rows ``unit.keep`` of one plane, ``(C * blocks, rows, X)`` in the
    input's intensity units, bitwise equal to what :func:`predict` writes there.

    ``block`` is the plane's raw input rows ``unit.read``, float32 ``(C, rows, X)``
    (``Layout.read``); ``layout`` has the plane's height, width and channels; ``grid`` and
    ``overlap`` are the whole image's (:func:`tile_grid`); ``net`` a ``_Net``.
    """
    top = unit.read[0]
    kept: list[np.ndarray] = []

    def read(rows: slice, cols: slice) -> np.ndarray:
        return block[:, rows.start - top:rows.stop - top, cols]

    def emit(rows: slice, blended: np.ndarray) -> None:
        if rows.start >= unit.keep[0]:  # rows before it are the halo's, incomplete
            kept.append(blended)

    for _ in _predict_plane(net, norm, read, emit, blocks, layout, grid, overlap,
                            rows=range(unit.first, unit.rows[1])):
        pass
    blended = np.concatenate(kept, axis=1)
    c = layout.channels
    return np.concatenate([norm.denormalize(blended[i * c:(i + 1) * c])
                           for i in range(blocks)])
