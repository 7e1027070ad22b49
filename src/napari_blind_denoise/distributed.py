"""Prediction across dask.distributed workers (the ``[distributed]`` extra).

``blind-denoise predict IN --model M -o OUT --dask-workers 2`` (a local cluster of worker
processes) or ``--dask-scheduler tcp://host:8786`` (an existing cluster, e.g. a SLURM one
started with dask-jobqueue; docs/distributed.md).

The work unit is a band of tile rows of one plane (:func:`core.predict.plan_units`): whole
planes when the stack has at least as many planes as the cluster has worker threads
(nothing predicted twice), else each plane cut into bands, one per thread, each band
predicting again the tile row above it that reaches its rows (a halo). Every kept row gets
the same tiles, added in the same order and de-normalised alike as in one process, so the
result is bitwise that of :func:`core.predict.predict` (``tests/test_distributed.py``).

A 3-D network's unit is a slab of Z planes of one volume
(:func:`core.volume_predict.plan_volume_units`): consecutive Z rows of blocks, one unit per
volume when there are enough volumes, else each volume cut into one per thread, each unit
predicting again the Z row of blocks before it that reaches its first planes (a halo).

What travels, all of it in memory (workers need no shared filesystem and no model file):

- the model, once per run: :func:`core.checkpoint.model_bytes` (safetensors weights with the
  configuration as JSON in its header, no pickle), scattered to every worker with
  ``Client.scatter(..., broadcast=True)``; a worker rebuilds it once and keeps it;
- per unit: the raw input rows (planes) it reads (a numpy array, read here) and plain
  settings;
- back: the unit's finished rows (planes), which this process writes into the output.

At most ``2 x`` the cluster's threads units are in flight (submitted, not yet written), and
units are cut smaller when needed so that their input and output rows in flight stay within
half the memory budget (for 3-D slabs, fewer units in flight too when even one-Z-row slabs
would not fit, at least one).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from .core.config import TileConfig
from .core.data.axes import validate_axes
from .core.data.validate import check_image
from .core.data.volume import Volumes
from .core.device import configure_threads, pick_device
from .core.errors import InputError
from .core.events import PredictEvent
from .core.methods.base import NotExportable
from .core.predict import (
    Unit,
    _Net,
    check_compatible,
    plan_memory,
    plan_units,
    predict,
    predict_unit,
    resolve_tta,
    tile_grid,
)
from .core.volume_predict import (
    plan_volume_units,
    predict_volume_unit,
    unit_blocks,
    volume_grid,
)

logger = logging.getLogger("napari_blind_denoise")

INSTALL_HINT = "pip install 'napari-blind-denoise[distributed]'"
MB = 2**20
WAIT_FOR_WORKERS = 60  # seconds to wait for a first worker of a cluster that has none yet


def require_distributed():
    """The ``distributed`` module, or an :class:`InputError` saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise InputError("predicting on dask workers needs dask.distributed, which is not "
                         f"installed: {INSTALL_HINT}") from None
    return distributed


@contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None):
    """A dask ``Client`` of the cluster at ``scheduler``, or of a new local cluster of
    ``workers`` worker processes with one thread each (closed on exit)."""
    distributed = require_distributed()
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except OSError as exc:
            raise InputError(f"cannot reach the dask scheduler at {scheduler}: "
                             f"{exc}") from None
        with client:
            _warm(client)
            yield client
        return
    if workers is None or workers < 1:
        raise InputError("--dask-workers must be at least 1")
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR
                                  ) as cluster, distributed.Client(cluster) as client:
        _warm(client)
        yield client


def _warm(client) -> None:
    """Import this module (torch, the core) on every worker now, not in the first unit."""
    import importlib

    client.run(importlib.import_module, __name__)


class DaskPredictor:
    """Predicts on the workers of a dask ``client`` (a pipeline ``Predictor``).

    ``device``: each worker's device choice (``"auto"``, ``"cpu"``, ...).
    ``torch_threads``: torch's threads in a worker's task on the CPU (``None``: what the
    worker has, raised to 2 or lowered to 1 to match this process, see :func:`_threads`;
    a count that differs from this process in being 1 or more gives results that differ in
    the last bits). ``summary`` describes the last run (workers, units, what was shipped)
    for the ``--json`` summary.
    """

    def __init__(self, client, device: str = "auto", torch_threads: int | None = None
                 ) -> None:
        if torch_threads is not None and torch_threads < 1:
            raise InputError("--dask-torch-threads must be at least 1")
        self.client = client
        self.device = device
        self.torch_threads = torch_threads
        self.summary: dict[str, Any] = {}

    def __call__(self, trained, data, axes, *, tile: TileConfig | None = None, out,
                 device="cpu", inference: str | None = None,
                 stop: threading.Event | None = None, joint: tuple[str, ...] = (),
                 extras=()):
        """Predict ``data`` into ``out`` (and the joint outputs ``joint`` into
        ``extras``); yields a :class:`PredictEvent` per unit written, returns ``out``."""
        tile = tile or TileConfig()
        layout = check_image(data, trained.axes_for(tuple(data.shape), axes))
        check_compatible(trained, layout)
        spec = trained.spec
        mode = inference or spec.inference_modes(trained.config)[0]
        spec.check_mode(trained.config, mode)
        self.summary = self._cluster()
        reason = spec.sequential_inference(trained.config, mode)
        blob = None
        if not reason:
            try:
                blob = _model_bytes(trained)
            except NotExportable as exc:
                reason = str(exc)
        if reason:
            yield from self._here(trained, data, layout, tile, out, device, mode, stop,
                                  joint, extras, reason)
            return out
        device = device if isinstance(device, torch.device) else pick_device(device)
        outs = (out, *extras)
        plan = plan_memory(trained, layout, outs, data, tile, device, inference)
        kind = _VolumeJob if trained.config.model.dims == 3 else _Job
        job = kind(trained, data, layout, outs, plan, tile, mode, joint, self.device,
                   self.torch_threads)
        units = job.units(self.summary["threads"])
        self.summary.update(units=len(units), **job.describe(units), model_bytes=len(blob),
                            in_flight=job.in_flight, torch_threads=self.torch_threads,
                            bitwise_as_one_process=job.bitwise())
        yield from _run(self.client, job, blob, units, stop)
        self.summary["workers_used"] = len(job.used)
        return out

    def _cluster(self) -> dict[str, Any]:
        threads = self.client.nthreads()
        if not threads:  # e.g. SLURM jobs still queued
            try:
                self.client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS)
            except (TimeoutError, OSError):
                raise InputError(f"the dask cluster at {self.client.scheduler.address} has "
                                 f"no workers (waited {WAIT_FOR_WORKERS} s)") from None
            threads = self.client.nthreads()
        return {"scheduler": self.client.scheduler.address, "workers": len(threads),
                "threads": int(sum(threads.values()))}

    def _here(self, trained, data, layout, tile, out, device, mode, stop, joint, extras,
              reason: str):
        """Predict in this process (what cannot be cut into units), saying why."""
        note = (f"{trained.spec.name} ({mode}) predicted in this process, not on the dask "
                f"workers: {reason}")
        logger.warning(note)
        self.summary.update(workers_used=0, note=note)
        infer = trained.spec.joint_inferrer(trained, mode, joint) if joint else None
        yield from predict(trained, data, layout.axes, tile=tile, out=out, device=device,
                           inference=mode, stop=stop, inferrer=infer, extras=extras)


def _model_bytes(trained) -> bytes:
    from .core.checkpoint import model_bytes

    return model_bytes(trained)


class _Job:
    """One prediction cut into units: what each unit is sent, where its rows go."""

    def __init__(self, trained, data, layout, outs, plan, tile, mode, joint, device,
                 torch_threads: int | None = None) -> None:
        self.data, self.layout, self.outs = data, layout, outs
        self.grid = tile_grid(trained, layout, plan.tile_size, plan.overlap)
        self.plan = plan
        self.settings = {
            "device": device, "mode": mode, "tta": resolve_tta(tile.tta, trained, layout, mode),
            "joint": list(joint),
            "grid": self.grid, "overlap": plan.overlap, "blocks": len(outs),
            "plane": (layout.channels, layout.height, layout.width),
            # the single-process run's torch threads: 1 or several (see _threads)
            "threads": configure_threads() if pick_device(device).type == "cpu" else 1,
            "torch_threads": torch_threads,
        }
        self.in_flight = 0
        self.used: set[str] = set()  # the workers that predicted units

    def describe(self, units: list[Unit]) -> dict[str, Any]:
        """How the image was cut, for the summary."""
        return {"bands_per_plane": len(units) // self.layout.n_planes}

    def bitwise(self) -> bool:
        """Whether the workers' torch threads make the same kernel choice as this process
        (see :func:`_threads`)."""
        asked = self.settings["torch_threads"]
        return asked is None or (asked > 1) == (self.settings["threads"] > 1)

    def units(self, threads: int) -> list[Unit]:
        """Whole planes when there are enough for every thread, else bands of them; bands
        small enough for the rows in flight to stay within half the budget."""
        layout = self.layout
        self.in_flight = 2 * threads
        bands = math.ceil(threads / layout.n_planes)
        row_bytes = 4 * layout.width * layout.channels * (1 + len(self.outs))
        cap = self.plan.budget_mb * MB / 2 / (self.in_flight * row_bytes)
        bands = max(bands, math.ceil(layout.height / max(cap, 1)))
        return plan_units(layout, self.grid, bands)

    def read(self, unit: Unit) -> np.ndarray:
        """The raw input rows ``unit`` needs, float32 ``(C, rows, X)``."""
        rows = slice(*unit.read)
        return np.ascontiguousarray(self.layout.read(self.data, unit.plane, rows,
                                                     slice(0, self.layout.width)))

    def write(self, unit: Unit, rows: np.ndarray) -> None:
        """A unit's finished rows into the outputs."""
        c, keep, cols = self.layout.channels, slice(*unit.keep), slice(0, self.layout.width)
        for i, out in enumerate(self.outs):
            self.layout.write(out, unit.plane, keep, cols, rows[i * c:(i + 1) * c])


class _VolumeJob(_Job):
    """A 3-D network's prediction cut into units of Z rows of blocks of one volume
    (:func:`core.volume_predict.plan_volume_units`); each unit is sent its input planes and
    sends back its finished planes."""

    def __init__(self, trained, data, layout, outs, plan, tile, mode, joint, device,
                 torch_threads: int | None = None) -> None:
        super().__init__(trained, data, layout, outs, plan, tile, mode, joint, device,
                         torch_threads)
        self.vols = Volumes(layout)
        self.grid = volume_grid(trained, layout, plan.tile_size, plan.overlap)
        self.settings.update(dims=3, grid=self.grid)

    def _bytes(self, unit: Unit) -> int:
        """The input planes sent for ``unit`` and the output planes it sends back."""
        plane = 4 * self.layout.channels * self.layout.height * self.layout.width
        read, keep = unit.read[1] - unit.read[0], unit.keep[1] - unit.keep[0]
        return plane * (read + len(self.outs) * keep)

    def units(self, threads: int) -> list[Unit]:
        """As many units per volume as there are threads (or units in flight, if fewer) for
        one volume, one per volume when there are enough volumes; more when their planes in
        flight would exceed half the budget. Units in flight: ``2 x`` the threads, fewer
        when even one-Z-row units in flight would exceed half the budget (at least one)."""
        half = self.plan.budget_mb * MB / 2
        rows = len(self.grid.starts[0])
        smallest = max(map(self._bytes, plan_volume_units(self.layout, self.grid, rows)))
        self.in_flight = max(1, min(2 * threads, int(half // smallest)))
        bands = min(rows, math.ceil(min(threads, self.in_flight) / self.vols.n_volumes))
        while True:
            units = plan_volume_units(self.layout, self.grid, bands)
            if bands >= rows or max(map(self._bytes, units)) * self.in_flight <= half:
                return units
            bands += 1

    def describe(self, units: list[Unit]) -> dict[str, Any]:
        """Units per volume, output planes per unit, blocks predicted (with the halos)
        against the blocks of one-process prediction."""
        return {"units_per_volume": len(units) // self.vols.n_volumes,
                "planes_per_unit": max(u.keep[1] - u.keep[0] for u in units),
                "blocks": self.vols.n_volumes * self.grid.n_blocks,
                "blocks_predicted": sum(unit_blocks(u, self.grid) for u in units)}

    def read(self, unit: Unit) -> np.ndarray:
        """The raw input planes ``unit`` needs, float32 ``(C, Z, Y, X)``."""
        everything = slice(None)
        return np.ascontiguousarray(self.vols.read(self.data, unit.plane, slice(*unit.read),
                                                   everything, everything))

    def write(self, unit: Unit, planes: np.ndarray) -> None:
        """A unit's finished planes into the outputs."""
        c, keep, everything = self.layout.channels, slice(*unit.keep), slice(None)
        for i, out in enumerate(self.outs):
            self.vols.write(out, unit.plane, keep, everything, everything,
                            planes[i * c:(i + 1) * c])


def _run(client, job: _Job, blob: bytes, units: list[Unit], stop) -> Iterator[PredictEvent]:
    """Submit the units, at most ``job.in_flight`` at a time; write each as it comes."""
    from distributed import as_completed

    digest = hashlib.sha256(blob).hexdigest()
    model = client.scatter(blob, broadcast=True, hash=False)
    run = uuid.uuid4().hex[:8]
    pending = iter(enumerate(units))
    done = as_completed()
    sent: dict[str, tuple[Any, Unit]] = {}

    def submit(i: int, unit: Unit) -> None:
        fut = client.submit(_predict_unit_on_worker, model, digest, job.settings,
                            job.read(unit), unit, key=f"blind-denoise-{run}-{i}")
        sent[fut.key] = fut, unit
        done.add(fut)

    n_tiles, tiles, t0 = sum(u.tiles for u in units), 0, time.perf_counter()
    try:
        for i, unit in itertools.islice(pending, job.in_flight):
            submit(i, unit)
        for fut in done:
            _, unit = sent.pop(fut.key)
            worker, rows = fut.result()
            job.used.add(worker)
            job.write(unit, rows)
            fut.release()
            tiles += unit.tiles
            yield PredictEvent(tile=tiles, n_tiles=n_tiles, elapsed=time.perf_counter() - t0,
                               memory=job.plan)
            if stop is not None and stop.is_set():
                return
            nxt = next(pending, None)
            if nxt is not None:
                submit(*nxt)
    finally:
        if sent:  # stopped or failed: drop what is still running
            client.cancel([f for f, _ in sent.values()], force=True)
        model.release()


# -- on the worker ----------------------------------------------------------------------------

_NETS: dict[tuple, tuple[Any, Any]] = {}
_NETS_LOCK = threading.Lock()


def _net(blob: bytes, digest: str, settings: dict):
    """The model and its tile predictor, built once per worker process and run."""
    key = (digest, settings["device"], settings["mode"], settings["tta"],
           tuple(settings["joint"]))
    with _NETS_LOCK:
        if key not in _NETS:
            from .core.checkpoint import model_from_bytes

            _NETS.clear()  # one model at a time
            device = pick_device(settings["device"])
            trained = model_from_bytes(blob, device)
            joint = tuple(settings["joint"])
            mode = settings["mode"]
            infer = trained.spec.joint_inferrer(trained, mode, joint) if joint else None
            _NETS[key] = trained, _Net(trained, device, mode, settings["tta"], infer)
        return _NETS[key]


def _threads(want: int) -> None:
    """Multi-threaded torch when the single-process run is, single-threaded when it is.

    ATen sends a 1x1 convolution to oneDNN when it runs multi-threaded and to its own
    kernel when single-threaded, and the two round differently (a last-bit difference);
    oneDNN's results do not depend on the thread count. Dask starts worker processes with
    ``OMP_NUM_THREADS=1``, so a worker raises it to 2 to make the same choice as a
    multi-threaded single-process run.
    """
    have = torch.get_num_threads()
    if want > 1 and have == 1:
        torch.set_num_threads(2)
    elif want == 1 and have > 1:
        torch.set_num_threads(1)


def _predict_unit_on_worker(blob: bytes, digest: str, settings: dict, block: np.ndarray,
                            unit: Unit) -> tuple[str, np.ndarray]:
    """The worker's address and one unit's finished rows (planes, for a 3-D network; runs
    on a dask worker)."""
    from distributed import get_worker

    trained, net = _net(blob, digest, settings)
    if net.device.type == "cpu" and settings["torch_threads"]:
        torch.set_num_threads(settings["torch_threads"])
    elif net.device.type == "cpu":
        _threads(settings["threads"])
    if settings.get("dims") == 3:
        planes = predict_volume_unit(net, trained.norm, block, unit, block.shape[0],
                                     settings["grid"], settings["blocks"])
        return get_worker().address, planes
    layout = validate_axes("CYX", settings["plane"])
    rows = predict_unit(net, trained.norm, block, unit, layout, settings["grid"],
                        settings["overlap"], settings["blocks"])
    return get_worker().address, rows
