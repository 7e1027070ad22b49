"""The one pipeline the CLI and the widgets drive: train -> keep best -> save -> predict ->
extra outputs, as one generator of small frozen events with one stop mechanism.

Events: :class:`TrainEvent` per step, :class:`Phase` at each new phase, :class:`PredictEvent`
per tile or window. ``stop`` (a ``threading.Event``) means "end the current phase": during
training, or the method's post-training step (the N-net's noise calibration), it ends them,
keeps the best model as it is and goes on to predict (the request is used up); during
prediction it abandons the output (nothing committed, ``complete`` False); during the extra
outputs it keeps the denoised image and abandons the extras. Every phase checks it at least
every few tens of milliseconds of work on a CPU, so it takes effect within about a second.

Where outputs go is the caller's choice through a *sink*: ``sink.open(name, shape, axes,
attrs)`` returns a handle with ``array`` (to fill), ``commit()`` (returns what the caller
keeps: a path, an array) and ``abort()``. :class:`MemorySink` keeps numpy arrays; the CLI and
the widgets pass sinks that write files or zarr stores atomically (``io.sinks``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .checkpoint import save_model
from .config import TileConfig
from .data.validate import check_image
from .device import free_memory
from .events import Phase
from .methods import ExtraOutput, OutputContext
from .noise.correlation import removed_noise_fraction
from .predict import predict, resolve_tta
from .train import TrainingSession
from .trained import ChannelModels, TrainedModel


class OutputHandle(Protocol):
    """An output being written."""

    array: Any

    def commit(self) -> Any:
        """Finish it; returns what the caller keeps (a path, an array)."""

    def abort(self) -> None:
        """Remove it."""


class Sink(Protocol):
    """Where the pipeline's image outputs go."""

    def open(self, name: str, shape: tuple[int, ...], axes: str,
             attrs: dict[str, Any]) -> OutputHandle:
        """A new float32 output ``name`` (``denoised`` or an extra output's name)."""


class Predictor(Protocol):
    """Predicts like :func:`~napari_blind_denoise.core.predict.predict` (its events, its
    result in ``out`` and ``extras``), elsewhere; ``joint`` names the joint outputs whose
    arrays ``extras`` are (``Method.joint_inferrer``)."""

    def __call__(self, trained: TrainedModel, data, axes: str, *, tile: TileConfig | None,
                 out, device, inference: str | None, stop: threading.Event,
                 joint: tuple[str, ...], extras: Sequence) -> Generator[object, None, object]:
        """The prediction's events; returns ``out``."""


@dataclass
class _MemoryHandle:
    array: np.ndarray

    def commit(self) -> np.ndarray:
        return self.array

    def abort(self) -> None:
        pass


class MemorySink:
    """Keeps every output as a numpy array in memory."""

    def open(self, name: str, shape: tuple[int, ...], axes: str,
             attrs: dict[str, Any]) -> _MemoryHandle:
        """A zero float32 array of ``shape``."""
        return _MemoryHandle(np.zeros(shape, np.float32))


@dataclass
class PipelineResult:
    """What the pipeline hands back.

    Attributes
    ----------
    trained
        The kept model.
    model_path
        Where it was saved, if it was.
    images
        ``denoised`` and the image extra outputs: what the sink's ``commit`` returned.
    curves, tables
        The curve and table extra outputs, by name.
    complete
        False when the prediction was stopped (nothing committed).
    outputs_complete
        False when the extra outputs were stopped (none committed).
    seconds
        Wall-clock time of the whole run.
    predict_seconds
        Of which prediction (the denoised image alone).
    removed_noise
        Share of the noisy image's variance in its flattest regions that the result removed
        (near 1: the noise is gone there; near 0: it was handed back), see
        :func:`~napari_blind_denoise.core.noise.correlation.removed_noise_fraction`.
    warnings
        Plain-language warnings for the user (e.g. the result kept the noise).
    yardstick
        The trained model's J-invariant self-supervised loss next to a calibrated classical
        filter's (:func:`compare_with_classical`), when it was measured.
    memory
        The tiling prediction chose within the memory budget
        (:class:`~napari_blind_denoise.core.memory.MemoryPlan`), once it started.
    tta
        Whether prediction averaged over the flips/rotations (``TileConfig.tta`` resolved,
        :func:`~napari_blind_denoise.core.predict.resolve_tta`).
    """

    trained: TrainedModel
    model_path: Path | None = None
    images: dict[str, Any] = field(default_factory=dict)
    curves: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    complete: bool = True
    outputs_complete: bool = True
    seconds: float = 0.0
    predict_seconds: float = 0.0
    removed_noise: float | None = None
    warnings: list[str] = field(default_factory=list)
    yardstick: dict[str, Any] | None = None
    memory: Any = None
    tta: bool = False


def _train(session: TrainingSession, stop: threading.Event):
    """Drive training (and the method's post-training step, e.g. the noise calibration);
    a stop request ends both, keeps the best model and is used up, so prediction follows."""
    trained = yield from session.run(stop=stop)
    stop.clear()
    return trained


def run_pipeline(session: TrainingSession, *, sink=None, tile: TileConfig | None = None,
                 stop: threading.Event | None = None, outputs: Sequence[ExtraOutput] = (),
                 model_dir: str | Path | None = None, attrs: dict[str, Any] | None = None,
                 yardstick: bool = False, inference: str | None = None,
                 data=None, predictor=None) -> Generator[object, None, PipelineResult]:
    """Train ``session``, keep the best model, save it (``model_dir``), then denoise
    ``data`` (default: the training data, the first array of a pair) with the method's
    ``inference`` mode (``None``: its default) and compute ``outputs`` (see
    :func:`apply_pipeline`); with ``yardstick``, then compare the model with a calibrated
    classical filter (:func:`compare_with_classical`, a few seconds; skipped for methods
    that are not compared). ``predictor``: see :func:`apply_pipeline`.

    ``data`` differs from the training data when a time-lapse trained as pairs of
    neighbouring frames (``core.data.pairs``) is denoised whole; it has the training
    data's axes."""
    t0 = time.perf_counter()
    data = session.data if data is None else data
    stop = stop if stop is not None else threading.Event()
    trained = yield from _train(session, stop)
    free_memory(session.device)  # the optimiser's state is gone: give its memory back
    adapted = trained.info.get("adapted")
    if adapted:  # what the method chose from the data (blind spot, filter) goes with images
        attrs = {**(attrs or {}), "adapted": adapted}
    result = yield from apply_pipeline(
        trained, data, session.layout.axes, sink=sink, tile=tile, stop=stop,
        outputs=outputs, model_dir=model_dir, device=session.device, attrs=attrs,
        inference=inference, predictor=predictor)
    if yardstick and result.complete and session.method.compared_with_classical \
            and not stop.is_set():
        yield Phase("output", "comparison with a calibrated classical filter")
        compare_with_classical(result, data, check_image(data, session.layout.axes), stop)
    result.seconds = time.perf_counter() - t0
    return result


def apply_pipeline(trained: TrainedModel, data, axes: str | None, *, sink=None,
                   tile: TileConfig | None = None, stop: threading.Event | None = None,
                   outputs: Sequence[ExtraOutput] = (), model_dir: str | Path | None = None,
                   device: str | torch.device = "auto", inference: str | None = None,
                   attrs: dict[str, Any] | None = None, predictor=None,
                   ) -> Generator[object, None, PipelineResult]:
    """Denoise ``data`` with ``trained`` into ``sink``, then compute ``outputs``.

    Parameters
    ----------
    trained
        The model (``model_dir``: save it there first).
    data, axes
        The image (never modified) and its axes (``None``: the model's, or guessed).
    sink
        Where images go (default :class:`MemorySink`).
    outputs
        Extra outputs to compute, of ``trained``'s method (``Method.outputs``). Those the
        method gives in the same pass as the denoised image (``ExtraOutput.joint``, e.g.
        the spread of an ensemble) are filled by that pass when its inference mode can
        (``Method.joint_inferrer``), the others are computed afterwards, in order.
    attrs
        Provenance stored with every image output (``role`` is added).
    predictor
        What predicts the denoised image (and the joint outputs) instead of
        :func:`~napari_blind_denoise.core.predict.predict` in this process: a
        :class:`Predictor`, e.g. ``napari_blind_denoise.distributed.DaskPredictor``.

    Yields
    ------
    Phase, PredictEvent
        A phase at the start of prediction (once the sink has opened the outputs it fills)
        and of every extra output computed after it; events per tile/window.

    Returns
    -------
    PipelineResult
    """
    if isinstance(trained, ChannelModels):  # one model per channel: each channel's own run
        return (yield from _per_channel(
            trained, data, axes, sink=sink, tile=tile, stop=stop, outputs=outputs,
            model_dir=model_dir, device=device, inference=inference, attrs=attrs,
            predictor=predictor))
    t0 = time.perf_counter()
    sink = sink if sink is not None else MemorySink()
    stop = stop if stop is not None else threading.Event()
    attrs = dict(attrs or {})
    layout = check_image(data, trained.axes_for(tuple(data.shape), axes))
    result = PipelineResult(trained)
    tile = tile or TileConfig()
    result.tta = resolve_tta(tile.tta, trained, layout, inference)
    tile = replace(tile, tta=result.tta)
    if model_dir is not None:
        result.model_path = save_model(trained, model_dir)
        attrs["model_path"] = str(result.model_path)
    infer, joint = _joint_outputs(trained, inference, outputs)
    handle = sink.open("denoised", layout.shape, layout.axes, {**attrs, "role": "denoised"})
    joint_handles: list[tuple[str, OutputHandle]] = []
    try:
        for out in joint:  # filled by the same pass as the denoised image
            joint_handles.append((out.name, sink.open(out.name, layout.shape, layout.axes,
                                                      {**attrs, "role": out.name})))
        # after the outputs are open: a front end can show them filling from the first tile
        yield Phase("predict", "denoised")
        arrays = [h.array for _, h in joint_handles]
        if predictor is None:
            events = predict(trained, data, layout.axes, tile=tile, out=handle.array,
                             device=device, inference=inference, stop=stop, inferrer=infer,
                             extras=arrays)
        else:
            events = predictor(trained, data, layout.axes, tile=tile, out=handle.array,
                               device=device, inference=inference, stop=stop,
                               joint=tuple(name for name, _ in joint_handles), extras=arrays)
        for ev in events:
            result.memory = ev.memory
            yield ev
        result.predict_seconds = time.perf_counter() - t0
        if stop.is_set():
            _abort(handle, *(h for _, h in joint_handles))
            result.complete = False
            return result
        check_result(result, data, handle.array, layout)
        ctx = OutputContext(trained, data, handle.array, layout, stop, tile, device)
        ctx.results.update((name, h.array) for name, h in joint_handles)
        extras = yield from _extra_outputs(ctx, [o for o in outputs if o not in joint], sink,
                                           attrs, result, joint_handles)
    except BaseException:
        _abort(handle, *(h for _, h in joint_handles))
        raise
    result.images = {"denoised": handle.commit(), **extras}
    result.seconds = time.perf_counter() - t0
    return result


def _per_channel(trained: ChannelModels, data, axes: str | None, **options):
    """:func:`~.separate_predict.apply_channels` (which runs :func:`apply_pipeline` per channel)."""
    from .separate_predict import apply_channels

    return (yield from apply_channels(trained, data, axes, **options))


# a result that removed less than this share of the noise variance in flat regions kept most
# of the noise (a good one removes 0.85-1 of it; returning the input removes 0)
MIN_REMOVED_NOISE = 0.5


def check_result(result: PipelineResult, noisy, denoised, layout) -> None:
    """Warn when the result handed the noise back (see ``MIN_REMOVED_NOISE``)."""
    removed = removed_noise_fraction(noisy, denoised, layout)
    result.removed_noise = round(removed, 4)
    if removed >= MIN_REMOVED_NOISE:
        return
    hint = result.trained.spec.remedy(result.trained.config)
    result.warnings.append(
        f"the result removed only {removed:.0%} of the noise in the image's flattest regions "
        f"and may be no better than the input{'; ' + hint if hint else ''}")


def compare_with_classical(result: PipelineResult, noisy, layout,
                           stop: threading.Event | None = None) -> None:
    """Warn when a calibrated classical filter scores better than the trained model by the
    J-invariant self-supervised loss on this image (``result.yardstick``); one model per
    channel: each on its channel (:func:`~.separate_predict.compare_channels`)."""
    from .methods.classical import yardstick

    if isinstance(result.trained, ChannelModels):
        from .separate_predict import compare_channels

        compare_channels(result, noisy, layout, stop)
        return
    found = yardstick(result.trained, noisy, layout, stop)
    if found is None:
        return
    result.yardstick = found
    if found["network_better"]:
        return
    spot = found["partition"]
    what = "one-pixel" if spot == "pixel" else spot.replace("x", "×")
    result.warnings.append(
        f"a calibrated {found['classical']} scores better on this image than the trained "
        f"{result.trained.spec.name} (self-supervised J-invariant loss "
        f"{found['classical_loss']:.4g} against {found['network_loss']:.4g}, {what} "
        "partition; a loss measured on the noisy image itself, not a comparison with a clean "
        "image): try the classical method, or train longer")


def _joint_outputs(trained: TrainedModel, inference: str | None,
                   outputs: Sequence[ExtraOutput]):
    """The image outputs the method gives in the same pass as the denoised image (declared
    ``joint``) and its inferrer for them; ``(None, ())`` when this mode cannot."""
    joint = tuple(o for o in outputs if o.kind == "image" and o.joint)
    if not joint:
        return None, ()
    spec = trained.spec
    mode = inference or spec.inference_modes(trained.config)[0]
    infer = spec.joint_inferrer(trained, mode, tuple(o.name for o in joint))
    return (infer, joint) if infer is not None else (None, ())


def _abort(*handles: OutputHandle) -> None:
    for h in handles:
        h.abort()


def _extra_outputs(ctx: OutputContext, outputs: Sequence[ExtraOutput], sink,
                   attrs: dict[str, Any], result: PipelineResult,
                   done: Sequence[tuple[str, OutputHandle]] = ()):
    """Compute ``outputs`` in order; commit the image ones (and those ``done`` already,
    with the denoised image) only if none was stopped."""
    handles: list[tuple[str, OutputHandle]] = list(done)
    try:
        for out in outputs:
            yield Phase("output", out.label)
            if out.kind == "image":
                h = sink.open(out.name, ctx.layout.shape, ctx.layout.axes,
                              {**attrs, "role": out.name})
                handles.append((out.name, h))
                yield from out.compute(ctx, h.array)
                ctx.results[out.name] = h.array
            else:
                value = out.compute(ctx)
                ctx.results[out.name] = value
                (result.curves if out.kind == "curve" else result.tables)[out.name] = value
            if ctx.stop is not None and ctx.stop.is_set():
                break
    except BaseException:
        for _, h in handles:
            h.abort()
        raise
    if ctx.stop is not None and ctx.stop.is_set():
        for _, h in handles:
            h.abort()
        result.curves.clear()
        result.tables.clear()
        result.outputs_complete = False
        return {}
    return {name: h.commit() for name, h in handles}
