"""The widgets' jobs: the core pipeline, writing zarr stores into the output folder.

No sequence of steps here: :func:`~napari_blind_denoise.core.pipeline.run_pipeline` and
:func:`~napari_blind_denoise.core.pipeline.apply_pipeline` train, keep the best model, save
it, predict and compute the method's extra outputs; these wrappers only choose where things
are written and which outputs the viewer shows. Besides the pipeline's events they yield a
:class:`~napari_blind_denoise.io.StoreState` when the denoised image's store is opened,
committed or removed, so the widget can show it filling while prediction runs (``_live``).
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterator
from pathlib import Path

from ..core import (
    PipelineResult,
    TileConfig,
    TrainedModel,
    TrainingSession,
    apply_pipeline,
    run_pipeline,
)
from ..io import StoreSink, StoreState, safe_name, unique_path

LIVE_OUTPUTS = ("denoised",)  # the outputs shown while they are written


def with_live_outputs(events: Generator, sink: StoreSink,
                      names: tuple[str, ...] = LIVE_OUTPUTS) -> Generator:
    """``events`` (a pipeline generator writing into ``sink``), with a
    :class:`~napari_blind_denoise.io.StoreState` for each of ``names`` before the first
    event after the sink opened, committed or removed it; returns what ``events`` returns.
    """
    told: dict[str, StoreState] = {}
    try:
        while True:
            try:
                event = next(events)
            except StopIteration as done:
                return done.value
            yield from _changed(sink, names, told)
            yield event
    finally:
        events.close()


def _changed(sink: StoreSink, names: tuple[str, ...], told: dict[str, StoreState],
             ) -> Iterator[StoreState]:
    for name, state in sink.states().items():
        if name in names and told.get(name) != state:
            told[name] = state
            yield state


def train_and_predict(session: TrainingSession, folder: Path, name: str, tile: TileConfig, *,
                      stop: threading.Event, provenance: dict, data=None,
                      ) -> Generator[object, None, PipelineResult]:
    """Train, save the kept model under ``folder/models``, denoise the whole input and
    compute the method's extra outputs, each into a new zarr store in ``folder``; then
    compare the model with a calibrated classical filter (a warning when it is no better).

    ``stop`` during training keeps the best model so far and still predicts; during
    prediction it abandons the output (its store is removed, nothing is committed); during
    the extra outputs it keeps the denoised result. ``data``: what to denoise, when it is
    not what the session trains on (a time-lapse trained as pairs of neighbouring frames).
    """
    stem = f"{safe_name(name)}_{session.method.id}"
    sink = StoreSink(folder, stem)
    return (yield from with_live_outputs(run_pipeline(
        session, sink=sink, tile=tile, stop=stop,
        outputs=session.method.outputs(), model_dir=unique_path(folder / "models", stem, ""),
        attrs=provenance, yardstick=True, data=data), sink))


def apply_model(trained: TrainedModel, model_path: Path | None, data, axes: str,
                folder: Path, name: str, tile: TileConfig, device, *,
                stop: threading.Event, provenance: dict,
                ) -> Generator[object, None, PipelineResult]:
    """Denoise ``data`` with an existing model (and its method's extra outputs) into zarr
    stores in ``folder``."""
    sink = StoreSink(folder, f"{safe_name(name)}_{trained.method}")
    result = yield from with_live_outputs(apply_pipeline(
        trained, data, axes, sink=sink, tile=tile, stop=stop,
        outputs=trained.spec.outputs(), device=device, attrs=provenance), sink)
    result.model_path = model_path
    return result
