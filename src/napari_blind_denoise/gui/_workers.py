"""The widgets' jobs: the core pipeline, writing zarr stores into the output folder.

No sequence of steps here: :func:`~napari_blind_denoise.core.pipeline.run_pipeline` and
:func:`~napari_blind_denoise.core.pipeline.apply_pipeline` train, keep the best model, save
it, predict and compute the method's extra outputs; these wrappers only choose where things
are written and which outputs the viewer shows.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from pathlib import Path

from ..core import (
    PipelineResult,
    TileConfig,
    TrainedModel,
    TrainingSession,
    apply_pipeline,
    run_pipeline,
)
from ..io import StoreSink, safe_name, unique_path


def train_and_predict(session: TrainingSession, folder: Path, name: str, tile: TileConfig, *,
                      stop: threading.Event, provenance: dict, data=None,
                      ) -> Generator[object, None, PipelineResult]:
    """Train, save the kept model under ``folder/models``, denoise the whole input and
    compute the method's extra outputs, each into a new zarr store in ``folder``; then
    compare the model with a calibrated classical filter (a warning when it is no better).

    ``stop`` during training keeps the best model so far and still predicts; during
    prediction it abandons the output (no half-written layer); during the extra outputs it
    keeps the denoised result. ``data``: what to denoise, when it is not what the session
    trains on (a time-lapse trained as pairs of neighbouring frames).
    """
    stem = f"{safe_name(name)}_{session.method.id}"
    return (yield from run_pipeline(
        session, sink=StoreSink(folder, stem), tile=tile, stop=stop,
        outputs=session.method.outputs(), model_dir=unique_path(folder / "models", stem, ""),
        attrs=provenance, yardstick=True, data=data))


def apply_model(trained: TrainedModel, model_path: Path | None, data, axes: str,
                folder: Path, name: str, tile: TileConfig, device, *,
                stop: threading.Event, provenance: dict,
                ) -> Generator[object, None, PipelineResult]:
    """Denoise ``data`` with an existing model (and its method's extra outputs) into zarr
    stores in ``folder``."""
    result = yield from apply_pipeline(
        trained, data, axes, sink=StoreSink(folder, f"{safe_name(name)}_{trained.method}"),
        tile=tile, stop=stop, outputs=trained.spec.outputs(), device=device, attrs=provenance)
    result.model_path = model_path
    return result
