"""Generators the widgets run in a worker thread. No maths here: they chain core generators,
write zarr stores atomically and yield small events for the progress bar and plots."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

from ..core.checkpoint import save_model
from ..core.config import TileConfig
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
    outputs = {"denoised": path} if path is not None else {}
    return JobResult(trained, model_dir, outputs, path is not None,
                     time.perf_counter() - t0)


def apply_model(trained: TrainedModel, model_path: Path | None, data, axes: str,
                folder: Path, name: str, tile: TileConfig, device, *,
                stop: threading.Event, provenance: dict) -> Generator[object, None, JobResult]:
    """Denoise ``data`` with an existing model into a zarr store."""
    t0 = time.perf_counter()
    yield Phase("predict")
    path = yield from predict_to_zarr(trained, data, axes, folder,
                                      f"{safe_name(name)}_{trained.method}", tile, device,
                                      stop, provenance)
    outputs = {"denoised": path} if path is not None else {}
    return JobResult(trained, model_path, outputs, path is not None,
                     time.perf_counter() - t0)
