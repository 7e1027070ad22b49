"""The memory budget of prediction: what it holds in RAM at once, and the tile that fits.

Prediction (``core.predict``) reads one tile of one plane at a time, keeps a band of blended
rows (one tile row plus at most one output chunk of finished rows) and writes finished rows
whole chunks at a time, so what it holds does not grow with the number of planes. What it
holds per tile is estimated here and the tile edge lowered until the estimate fits the
budget:

- on the CPU, the network's activations: the bytes of every distinct tensor the network's
  layers return during one pass over a small probe tile (an upper bound of what one pass
  holds at once), scaled to the tile's pixels (on a GPU they are in device memory);
- the tile being read, normalised, predicted and weighted (float32);
- the band of blended rows, twice (it is copied when it grows);
- the input chunks a tile touches (a zarr or dask array reads whole chunks).

On a GPU the activations live in device memory: the tile edge is first bounded by the
device's free memory (:func:`device_tile`, from the same probe run on the device), then by
the budget without them.

For a 3-D network (``plan_tiles(depth=...)``) a tile is a ``depth x edge x edge`` block
of one volume and the band holds Z planes instead of rows: a tile's depth of whole planes,
plus at most one output chunk of finished planes; the activations are measured on a 3-D
probe and counted per voxel.

Not counted (a fixed overhead, measured in ``benchmarks/out_of_core.py``): the model's
weights, Python, torch and the libraries, and any whole-image array the caller passes (a
numpy ``out`` or input).
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError

MB = 2**20
#: The default budget: this fraction of the memory available when prediction starts...
DEFAULT_FRACTION = 0.25
#: ...but at least this many MB.
MIN_DEFAULT_MB = 256
#: The smallest tile edge the budget may choose.
MIN_BUDGET_TILE = 32
PROBE = 64  # edge of the probe tile (rounded up to the network's divisor)
# Bytes per tile pixel assumed for a network whose layers cannot be observed (a TorchScript
# model imported from a BioImage.IO package): about what the probe measures for the CPU
# preset's UNet (98 MB for a 512-pixel tile), doubled for a margin.
UNOBSERVED_BYTES_PER_PIXEL = 800.0


def available_bytes() -> int | None:
    """Memory available to new allocations (``MemAvailable`` on Linux, else free pages)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def default_budget_mb() -> int:
    """``DEFAULT_FRACTION`` of the available memory, at least ``MIN_DEFAULT_MB``."""
    avail = available_bytes()
    if avail is None:
        return 1024
    return max(MIN_DEFAULT_MB, int(avail * DEFAULT_FRACTION / MB))


@dataclass(frozen=True)
class MemoryPlan:
    """The tiling prediction uses within a budget.

    Attributes
    ----------
    budget_mb
        The budget (MB).
    tile_size
        The tile edge chosen (at most the one asked for).
    overlap
        The overlap between neighbouring tiles.
    estimate_mb
        What prediction holds at once with this tile (the module docstring lists it).
    align
        Finished rows are written in multiples of this many rows (the output's chunk
        height), so every output chunk is written once, whole.
    """

    budget_mb: float
    tile_size: int
    overlap: int
    estimate_mb: float
    align: int


PROBE_DEPTH = 16  # Z depth of the 3-D probe tile (rounded up to the network's Z divisor)


def activation_bytes_per_pixel(net, channels: int, divisor: int,
                               z_divisor: int | None = None) -> float:
    """Bytes of distinct layer outputs over one pass of ``net`` (a ``core.predict._Net``)
    on a probe tile, per pixel of the tile (the largest pass when it makes several); with
    ``z_divisor`` (a 3-D network) on a 3-D probe tile, per voxel.

    It runs on a copy of the network (the caller's hooks see nothing) and the random state
    is restored afterwards, so stochastic inference is unchanged. A TorchScript network
    (which takes no hooks) is assumed to need :data:`UNOBSERVED_BYTES_PER_PIXEL`.
    """
    if any(isinstance(m, torch.jit.ScriptModule) for m in net.model.modules()):  # no hooks
        return UNOBSERVED_BYTES_PER_PIXEL
    size = math.ceil(PROBE / divisor) * divisor
    shape: tuple[int, ...] = (channels, size, size)
    if z_divisor is not None:
        shape = (channels, math.ceil(PROBE_DEPTH / z_divisor) * z_divisor, size, size)
    net = copy.copy(net)  # a copy of the network without the caller's hooks: unobserved
    net.model = copy.deepcopy(net.model)
    for m in net.model.modules():
        m._forward_hooks.clear()
        m._forward_pre_hooks.clear()
    seen: set[int] = set()
    held: list[torch.Tensor] = []  # the pass's outputs, alive until it ends (see count)
    passes = [0]

    def count(_module, _inputs, output) -> None:
        # Outputs are held until the pass ends: a freed output's memory would otherwise be
        # reused by a later one at the same address, which then went uncounted, and how
        # much was reused depended on the allocator's state (a process's history), so two
        # processes planned different tiles for the same model and budget.
        for t in output if isinstance(output, tuple | list) else (output,):
            if isinstance(t, torch.Tensor) and t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                held.append(t)
                passes[-1] += t.numel() * t.element_size()

    def start(_module, _inputs) -> None:
        seen.clear()
        held.clear()
        passes.append(0)

    leaves = [m for m in net.model.modules() if not any(True for _ in m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    hooks.append(net.model.register_forward_pre_hook(start))
    devices = [net.device] if net.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            net(np.zeros(shape, np.float32))
    finally:
        for h in hooks:
            h.remove()
        held.clear()
    return max(passes) / math.prod(shape[1:])


#: Share of the accelerator's free memory one tile's activations may take (the rest: the
#: caching allocator's fragmentation, cuDNN workspaces, the inferrer's extra tensors).
DEVICE_FRACTION = 0.5


def device_tile(per_pixel: float, free_bytes: int | None, tile_size: int, divisor: int,
                dims: int = 2) -> int:
    """The largest tile edge (a multiple of ``divisor``, at most ``tile_size``, at least
    ``MIN_BUDGET_TILE`` rounded up to ``divisor``) whose activations, ``per_pixel`` bytes per
    pixel (per voxel when ``dims`` is 3: a tile is then ``edge`` deep too), fit
    :data:`DEVICE_FRACTION` of ``free_bytes`` of accelerator memory (``None``: unknown,
    ``tile_size`` is kept; an out-of-memory error still halves it)."""
    if free_bytes is None or per_pixel <= 0:
        return tile_size
    room = int(DEVICE_FRACTION * free_bytes / per_pixel)
    fit = math.isqrt(room) if dims == 2 else int(round(room ** (1 / dims), 9))
    smallest = max(divisor, math.ceil(MIN_BUDGET_TILE / divisor) * divisor)
    return max(smallest, min(tile_size, fit - fit % divisor))


def _chunk_bytes(data, th: int, tw: int, layout) -> int:
    """Bytes of the input chunks one ``th x tw`` tile touches (0 for numpy)."""
    chunks = getattr(data, "chunksize", None) or getattr(data, "chunks", None)
    if not chunks or not all(isinstance(c, int | np.integer) for c in chunks):
        return 0
    per_chunk = int(np.prod(chunks, dtype=np.int64)) * np.dtype(data.dtype).itemsize
    cy, cx = chunks[layout.axes.index("Y")], chunks[layout.axes.index("X")]
    n = (math.ceil(th / cy) + 1) * (math.ceil(tw / cx) + 1)
    return 2 * per_chunk * min(n, math.ceil(layout.height / cy) * math.ceil(layout.width / cx))


def estimate_bytes(per_pixel: float, th: int, tw: int, layout, blocks: int, align: int,
                   data=None, tz: int | None = None) -> int:
    """What prediction holds at once with ``th x tw`` tiles (``tz x th x tw`` for a 3-D
    network; see the module docstring); ``blocks``: output arrays (the denoised image and a
    joint inferrer's extras)."""
    c, w = layout.channels, layout.width
    voxels = th * tw * (tz or 1)
    network = per_pixel * voxels
    tile = 4 * voxels * (2 * c + 2 * c * blocks + 1)  # raw, normalised, pred, pred*w, w
    if tz is None:
        rows = min(layout.height, th + align) * w
        chunks = _chunk_bytes(data, th, tw, layout)
    else:  # a band of whole Z planes
        rows = min(layout.shape[layout.axes.index("Z")], tz + align) * layout.height * w
        chunks = _chunk_bytes(data, th, tw, layout) * tz
    band = 2 * 4 * rows * (c * blocks + 1)
    flush = 2 * 4 * rows * c  # rows written at once: blended and de-normalised copies
    return int(network + tile + band + flush + chunks)


def output_align(outs, layout, tile: int, axis: str = "Y") -> int:
    """Rows (planes, ``axis="Z"``) per write: the outputs' chunk along ``axis`` when they are
    chunked (zarr, dask) and it is not longer than a tile; else 1 (rows are written as soon
    as they are final)."""
    aligns = []
    for out in outs:
        chunks = getattr(out, "chunks", None)
        if not chunks or not all(isinstance(c, int | np.integer) for c in chunks):
            return 1
        aligns.append(int(chunks[layout.axes.index(axis)]))
    align = max(aligns, default=1)
    return align if align <= tile and all(align % a == 0 for a in aligns) else 1


def plan_tiles(net, layout, outs, data, *, tile_size: int, overlap: int, divisor: int,
               budget_mb: float | None, z_divisor: int | None = None) -> MemoryPlan:
    """The largest tile edge (at most ``tile_size``, a multiple of ``divisor``) whose
    estimate fits ``budget_mb`` (``None``: :func:`default_budget_mb`); ``net``: a
    ``core.predict._Net`` on the CPU to probe, ``None`` on a GPU (activations not counted).
    With ``z_divisor`` (a 3-D network) tiles are ``edge`` deep too (at most the stack's Z).

    Raises
    ------
    InputError
        Even ``MIN_BUDGET_TILE``-pixel tiles need more than the budget (a very wide plane,
        huge input chunks or a very small budget).
    """
    # net None: on a GPU the activations live in device memory (an out-of-memory error
    # halves the tile)
    per_pixel = activation_bytes_per_pixel(net, layout.channels, divisor, z_divisor) \
        if net is not None else 0.0
    return _fit(per_pixel, layout, outs, data, tile_size, overlap, divisor, budget_mb,
                volume=z_divisor is not None)


def check_budget(layout, data, *, divisor: int, budget_mb: float | None) -> None:
    """Refuse, before any training, a budget too small even without the network's
    activations (which :func:`plan_tiles` adds once there is a network)."""
    _fit(0.0, layout, (), data, MIN_BUDGET_TILE, 0, divisor, budget_mb)


def _fit(per_pixel: float, layout, outs, data, tile_size: int, overlap: int, divisor: int,
         budget_mb: float | None, volume: bool = False) -> MemoryPlan:
    budget_mb = float(budget_mb) if budget_mb is not None else float(default_budget_mb())
    budget = budget_mb * MB
    smallest = max(divisor, math.ceil(MIN_BUDGET_TILE / divisor) * divisor)
    lower = range(tile_size - tile_size % divisor, smallest - 1, -divisor)
    need = 0
    for size in (tile_size, *(s for s in lower if s < tile_size)):
        th, tw = min(size, layout.height), min(size, layout.width)
        tz = min(size, layout.shape[layout.axes.index("Z")]) if volume else None
        align = output_align(outs, layout, tz or th, "Z" if volume else "Y")
        need = estimate_bytes(per_pixel, th, tw, layout, max(1, len(outs)), align, data, tz)
        if need <= budget:  # the tiles asked for keep their overlap; smaller ones a quarter
            ov = overlap if size == tile_size else min(overlap, size // 4)
            return MemoryPlan(budget_mb, size, ov, need / MB, align)
    raise InputError(
        f"a memory budget of {budget_mb:g} MB is too small to predict planes of "
        f"{layout.height}x{layout.width} pixels: even {smallest}-pixel tiles need about "
        f"{need / MB:.3g} MB (raise --memory-budget, or store the input with smaller chunks)")
