"""Generators the widgets run in a worker thread. No maths here: they chain core generators,
write zarr stores atomically and yield small events for the progress bar and plots."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.axes import Layout, validate_axes
from ..core.checkpoint import save_model
from ..core.config import TileConfig
from ..core.events import PredictEvent
from ..core.noise_model import (
    fit_poisson_gaussian,
    has_noise_model,
    noise_curve,
    predict_noise_std,
)
from ..core.noise_stats import DISPLAY_MIN_FRACTION, binned_std, sample_residuals
from ..core.predict import predict
from ..core.train import TrainedModel, TrainingSession
from ..io import open_output
from ._layers import safe_name, unique_path


@dataclass(frozen=True)
class Phase:
    """The job moved to a new phase (``"predict"``, ``"noise"``...)."""

    name: str


@dataclass
class JobResult:
    """What a finished job hands to the widget (in the GUI thread).

    ``outputs`` maps a role (``"denoised"``, ``"noise_std"``...) to a committed zarr path;
    ``complete`` is False when the user stopped the prediction (nothing is committed then).
    """

    trained: TrainedModel
    model_path: Path | None = None
    outputs: dict[str, Path] = field(default_factory=dict)
    complete: bool = True
    seconds: float = 0.0
    noise_curve: tuple | None = None
    empirical_curve: tuple | None = None
    poisson_gaussian: tuple[float, float] | None = None


def _train(session: TrainingSession, stop_training: threading.Event):
    """Drive the training generator, turning a Stop request into ``session.stop()``."""
    gen = session.run()
    while True:
        if stop_training.is_set():
            session.stop()
        try:
            event = next(gen)
        except StopIteration as done:
            return done.value
        yield event


def predict_to_zarr(trained: TrainedModel, data, axes: str, folder: Path, stem: str,
                    tile: TileConfig, device, stop: threading.Event,
                    provenance: dict) -> Generator[object, None, Path | None]:
    """Tiled prediction into ``folder/stem.zarr`` (temporary name until complete).

    Returns the committed path, or ``None`` if ``stop`` was set (the partial store is removed).
    """
    path = unique_path(folder, stem, ".zarr")
    out = open_output(path, tuple(data.shape), axes, attrs=provenance)
    try:
        yield from predict(trained, data, axes, tile=tile, out=out.array, device=device,
                           stop=stop)
        if stop.is_set():
            out.abort()
            return None
        return out.commit()
    except BaseException:
        out.abort()
        raise


def train_and_predict(session: TrainingSession, folder: Path, name: str, tile: TileConfig,
                      stop_training: threading.Event, *, stop: threading.Event,
                      provenance: dict) -> Generator[object, None, JobResult]:
    """Train, save the kept model next to the results, then denoise the whole input.

    Yields ``TrainEvent`` per step, a :class:`Phase`, then ``PredictEvent`` per tile.
    A Stop during training keeps the best model so far and still predicts; a Stop during
    prediction abandons the output (no half-written layer).
    """
    t0 = time.perf_counter()
    trained = yield from _train(session, stop_training)
    method = trained.method
    model_dir = unique_path(folder / "models", f"{safe_name(name)}_{method}", "")
    save_model(trained, model_dir)
    yield Phase("predict")
    meta = {**provenance, "model_path": str(model_dir)}
    path = yield from predict_to_zarr(trained, session.data, session.layout.axes, folder,
                                      f"{safe_name(name)}_{method}", tile, session.device,
                                      stop, meta)
    result = JobResult(trained, model_dir, {"denoised": path} if path else {}, path is not None)
    if path is not None and has_noise_model(trained):
        yield from noise_outputs(result, session.data, session.layout, folder, name,
                                 stop=stop, provenance=meta)
    result.seconds = time.perf_counter() - t0
    return result


def _write_residual(noisy, denoised, out, layout: Layout, rows: int = 256):
    """``out = noisy - denoised``, window by window (one event per window)."""
    starts = range(0, layout.height, rows)
    n, done, t0 = layout.n_planes * len(starts), 0, time.perf_counter()
    for plane in layout.planes():
        for y0 in starts:
            ys, xs = slice(y0, min(layout.height, y0 + rows)), slice(None)
            diff = layout.read(noisy, plane, ys, xs) - layout.read(denoised, plane, ys, xs)
            layout.write(out, plane, ys, xs, diff)
            done += 1
            yield PredictEvent(tile=done, n_tiles=n, elapsed=time.perf_counter() - t0)


def noise_outputs(result: JobResult, noisy, layout: Layout, folder: Path, name: str, *,
                  stop: threading.Event, provenance: dict):
    """Noise-model outputs of an ``nnet`` model next to its denoised store.

    Adds ``noise_std`` (the N-net at the denoised signal) and ``residual`` (noisy −
    denoised) zarr stores to ``result.outputs``, and fills the model and empirical
    noise curves and the Poisson–Gaussian fit. A Stop leaves the denoised result alone.
    """
    import zarr

    trained = result.trained
    denoised = zarr.open_array(store=str(result.outputs["denoised"]), mode="r")
    stem = f"{safe_name(name)}_{trained.method}"
    yield Phase("noise")
    stores = []
    try:
        for role in ("noise_std", "residual"):
            out = open_output(unique_path(folder, f"{stem}_{role}", ".zarr"), layout.shape,
                              layout.axes, attrs={**provenance, "role": role})
            stores.append((role, out))
            if role == "noise_std":
                yield from predict_noise_std(trained, denoised, layout.axes, out=out.array,
                                             stop=stop)
            else:
                yield from _write_residual(noisy, denoised, out.array, layout)
            if stop.is_set():
                raise _Stopped
    except _Stopped:
        for _, out in stores:
            out.abort()
        return
    except BaseException:
        for _, out in stores:
            out.abort()
        raise
    for role, out in stores:
        result.outputs[role] = out.commit()
    signal, residual = sample_residuals(noisy, denoised, layout)
    centres, std, _ = binned_std(signal, residual, min_fraction=DISPLAY_MIN_FRACTION)
    result.empirical_curve = (centres, std)
    result.noise_curve = noise_curve(trained)
    result.poisson_gaussian = fit_poisson_gaussian(*result.noise_curve)


class _Stopped(Exception):
    """Internal: the user pressed Stop during the noise outputs."""


def apply_model(trained: TrainedModel, model_path: Path | None, data, axes: str,
                folder: Path, name: str, tile: TileConfig, device, *,
                stop: threading.Event, provenance: dict) -> Generator[object, None, JobResult]:
    """Denoise ``data`` with an existing model into a zarr store."""
    t0 = time.perf_counter()
    yield Phase("predict")
    path = yield from predict_to_zarr(trained, data, axes, folder,
                                      f"{safe_name(name)}_{trained.method}", tile, device,
                                      stop, provenance)
    result = JobResult(trained, model_path, {"denoised": path} if path else {},
                       path is not None)
    if path is not None and has_noise_model(trained):
        layout = validate_axes(axes, tuple(data.shape))
        yield from noise_outputs(result, data, layout, folder, name, stop=stop,
                                 provenance=provenance)
    result.seconds = time.perf_counter() - t0
    return result
