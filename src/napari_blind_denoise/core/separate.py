"""One model per channel (``ModelConfig.channels == "separate"``, ``core.channels``):
training, prediction, the pipeline and the yardstick, each the one-channel path run on
every channel of the image.

Training: :class:`ChannelSession` holds one :class:`~.train.TrainingSession` per channel
(:func:`~.channels.channel_of` the training arrays, :func:`~.channels.channel_config` its
budget) and steps them in turn, one step each per round, so that a stop request or the time
budget ends every channel's training with its best model so far. Each session draws from
the global torch generator as if it ran alone (its state is kept between its turns), so a
channel's model is the one a one-channel run of that channel with that configuration gives.

Prediction and the pipeline: every output of the image is opened once in the caller's sink;
channel ``c``'s model writes channel ``c`` of it through :func:`~.pipeline.apply_pipeline`'s
one-channel path, and the outputs are committed once every channel is done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .channels import channel_axes, channel_config, channel_of, merge_tables, separate
from .config import DenoiseConfig, TileConfig
from .data.axes import Layout
from .data.validate import check_image
from .events import PredictEvent, Preview, TrainEvent
from .methods import ExtraOutput, get_method
from .pipeline import MemorySink, PipelineResult, apply_pipeline, compare_with_classical
from .predict import check_compatible, predict
from .preview import PreviewOptions
from .train import TrainingSession, _as_inputs
from .trained import ChannelModels, TrainedModel
from .version import __version__


def session_for(data, axes: str | None, config: DenoiseConfig, *,
                device: str | torch.device = "auto", preview: PreviewOptions | None = None,
                spacing: Mapping[str, float] | None = None):
    """The training session ``config`` asks for on ``data``: a :class:`ChannelSession` for
    ``channels="separate"`` on an image with several channels, else a
    :class:`~.train.TrainingSession` (same arguments)."""
    first = _as_inputs(data, get_method(config.method))[0]
    cls = ChannelSession if separate(config, check_image(first, axes)) else TrainingSession
    return cls(data, axes, config, device=device, preview=preview, spacing=spacing)


# -- training -------------------------------------------------------------------------------

def _rng_state(device: torch.device) -> tuple:
    """The global torch generators' states a session on ``device`` draws from."""
    if device.type == "cuda":
        return torch.get_rng_state(), torch.cuda.get_rng_state(device)
    return torch.get_rng_state(), None


def _set_rng_state(device: torch.device, state: tuple) -> None:
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], device)


class _Turns:
    """Generators advanced in turn, each with the global torch generator state it left at
    its previous turn (its own stream, as if it ran alone)."""

    def __init__(self, runs: list[Generator], device: torch.device) -> None:
        self.runs, self.device = runs, device
        self.states: list[tuple | None] = [None] * len(runs)

    def advance(self, c: int) -> tuple[Any, bool]:
        """``(event, False)``, or ``(return value, True)`` once run ``c`` ended."""
        outer = _rng_state(self.device)
        if self.states[c] is not None:
            _set_rng_state(self.device, self.states[c])
        try:
            return next(self.runs[c]), False
        except StopIteration as end:
            return end.value, True
        finally:
            self.states[c] = _rng_state(self.device)
            _set_rng_state(self.device, outer)


def _mean(events: Sequence[TrainEvent], name: str) -> float | None:
    values = [getattr(e, name) for e in events]
    return None if any(v is None for v in values) else float(np.mean(values))


def _merge_info(models: Sequence[TrainedModel], seconds: float) -> dict[str, Any]:
    """One training summary for the channels' models: an entry equal for every channel
    once, others as a list per channel; steps added up, the kept steps listed, the run's
    wall clock."""
    infos = [m.info for m in models]
    merged: dict[str, Any] = {}
    for key in infos[0]:
        values = [i.get(key) for i in infos]
        merged[key] = values[0] if all(v == values[0] for v in values) else values
    adapted = [i.get("adapted") or {} for i in infos]
    merged.update(steps=sum(i["steps"] for i in infos),
                  best_step=[i.get("best_step") for i in infos], train_seconds=round(seconds, 3),
                  stopped_early=any(i.get("stopped_early") for i in infos),
                  adapted={"channels": adapted} if any(adapted) else {},
                  package_version=__version__, channels=infos)
    return merged


class ChannelSession:
    """Training of one model per channel (``channels="separate"``), with the interface of
    :class:`~.train.TrainingSession` (``run``, ``stop``, ``best_model``, ``data``,
    ``layout``, ``method``, ``config``, ``device``).

    The events are one per round (every channel one step): ``step`` and ``n_steps`` count
    all channels' steps, the losses are the channels' means, ``noise_curve`` is channel 0's
    (as a joint model's), ``notice`` lines name their channel, and ``preview`` shows every
    channel's latest preview once each channel has one.
    """

    def __init__(self, data, axes: str | None, config: DenoiseConfig, *,
                 device: str | torch.device = "auto",
                 preview: PreviewOptions | None = None,
                 spacing: Mapping[str, float] | None = None) -> None:
        self.method = get_method(config.method)
        self.inputs = _as_inputs(data, self.method)
        self.data = self.inputs[0]
        self.layout: Layout = check_image(self.data, axes)
        n = self.layout.channels
        self.config = replace(config, model=replace(config.model, in_channels=n,
                                                     out_channels=n))
        one, sub_axes = channel_config(self.config, n), channel_axes(self.layout.axes)
        self.sessions = [
            TrainingSession(tuple(channel_of(a, self.layout, c) for a in self.inputs),
                            sub_axes, one, device=device, preview=preview, spacing=spacing)
            for c in range(n)]
        self.device = self.sessions[0].device
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        """Ask every channel's training to end after its current step (thread-safe)."""
        for s in self.sessions:
            s.stop()

    def stopping(self) -> bool:
        """True once a stop was asked for."""
        return any(s.stopping() for s in self.sessions)

    def best_model(self) -> ChannelModels:
        """Every channel's kept model so far."""
        return self._models([s.best_model() for s in self.sessions])

    def _models(self, models: list[TrainedModel]) -> ChannelModels:
        info = _merge_info(models, time.perf_counter() - self._t0)
        return ChannelModels(models, self.config, self.layout.axes, info)

    def run(self, stop: threading.Event | None = None,
            ) -> Generator[TrainEvent, None, ChannelModels]:
        """Train every channel's model, one step each in turn; yields one event per round,
        returns the models (see :meth:`~.train.TrainingSession.run` for ``stop``)."""
        self._t0 = time.perf_counter()
        turns = _Turns([s.run(stop=stop) for s in self.sessions], self.device)
        n = len(self.sessions)
        models: list[TrainedModel | None] = [None] * n
        latest: list[TrainEvent | None] = [None] * n
        previews: list[Preview | None] = [None] * n
        while True:
            fresh: dict[int, TrainEvent] = {}
            for c in range(n):
                if models[c] is not None:
                    continue
                value, done = turns.advance(c)
                if done:
                    models[c] = value
                else:
                    latest[c] = fresh[c] = value
            if not fresh:
                return self._models(models)
            yield self._event(latest, fresh, previews)

    def _event(self, latest, fresh: dict[int, TrainEvent], previews) -> TrainEvent:
        """One event for a round from each channel's latest."""
        events = [e for e in latest if e is not None]
        notes = [f"channel {c}: {e.notice}" for c, e in fresh.items() if e.notice]
        first = fresh.get(0)
        cfg = self.config.train
        return TrainEvent(
            step=sum(e.step for e in events), n_steps=sum(e.n_steps for e in events),
            loss=float(np.mean([e.loss for e in events])), val_loss=_mean(events, "val_loss"),
            best_val_loss=_mean(events, "best_val_loss"), lr=events[0].lr,
            elapsed=time.perf_counter() - self._t0, time_budget=cfg.time_budget,
            patches_per_s=sum(e.patches_per_s for e in events),
            noise_curve=first.noise_curve if first is not None else None,
            mse=_mean(events, "mse"), val_mse=_mean(events, "val_mse"),
            best_val_mse=_mean(events, "best_val_mse"), notice="; ".join(notes) or None,
            preview=_preview(fresh, previews))


def _preview(fresh: dict[int, TrainEvent], previews: list[Preview | None]) -> Preview | None:
    """Every channel's latest preview as one (when one came this round and every channel
    has one), else ``None``."""
    new = False
    for c, e in fresh.items():
        if e.preview is not None:
            previews[c], new = e.preview, True
    if not new or any(p is None for p in previews):
        return None
    first = previews[0]
    image = np.concatenate([p.image for p in previews])
    image.flags.writeable = False
    return Preview(image, first.plane, first.top, first.left, min(p.step for p in previews))


# -- prediction -----------------------------------------------------------------------------

def _relabel(events, c: int, channels: int):
    """Channel ``c``'s events as parts of the whole image's: tiles counted over every
    channel; returns what ``events`` returns."""
    while True:
        try:
            ev = next(events)
        except StopIteration as end:
            return end.value
        if isinstance(ev, PredictEvent):
            ev = replace(ev, tile=c * ev.n_tiles + ev.tile, n_tiles=channels * ev.n_tiles)
        yield ev


def predict_channels(trained: ChannelModels, data, axes: str | None = None, *,
                     tile: TileConfig | None = None, out=None,
                     device: str | torch.device = "auto", inference: str | None = None,
                     stop: threading.Event | None = None, inferrer=None,
                     extras: Sequence = ()) -> Generator[PredictEvent, None, object]:
    """:func:`~.predict.predict` for one model per channel: channel ``c`` of ``data``
    by model ``c`` into channel ``c`` of ``out`` (and of each of ``extras``).

    Raises
    ------
    ValueError
        An ``inferrer``: it is one model's (predict with ``trained.models[c]``).
    """
    if inferrer is not None:
        raise ValueError("an inferrer applies to one model; predict with each channel's "
                         "model (ChannelModels.models)")
    layout = check_image(data, trained.axes_for(tuple(data.shape), axes))
    check_compatible(trained, layout)
    if out is None:
        out = np.zeros(layout.shape, np.float32)
    sub_axes = channel_axes(layout.axes)
    for c, model in enumerate(trained.models):
        yield from _relabel(predict(
            model, channel_of(data, layout, c), sub_axes, tile=tile,
            out=channel_of(out, layout, c), device=device, inference=inference, stop=stop,
            extras=[channel_of(e, layout, c) for e in extras]), c, trained.channels)
        if stop is not None and stop.is_set():
            break
    return out


class _ChannelHandle:
    """Channel ``c`` of an output of the whole image: committed or removed with the
    whole image's (:class:`_SharedOutputs`), not by the channel's pipeline."""

    def __init__(self, array) -> None:
        self.array = array

    def commit(self) -> None:
        return None

    def abort(self) -> None:
        pass


class _ChannelSink:
    """The sink of channel ``c``'s pipeline."""

    def __init__(self, shared: _SharedOutputs, c: int) -> None:
        self.shared, self.c = shared, c

    def open(self, name: str, shape: tuple[int, ...], axes: str,
             attrs: dict[str, Any]) -> _ChannelHandle:
        return self.shared.open(name, self.c, attrs)


class _SharedOutputs:
    """Every output of the image, opened once in ``sink`` with the image's shape; each
    channel's pipeline writes its channel (:meth:`channel`)."""

    def __init__(self, sink, layout: Layout) -> None:
        self.sink, self.layout = sink, layout
        self.handles: dict[str, Any] = {}

    def channel(self, c: int) -> _ChannelSink:
        return _ChannelSink(self, c)

    def open(self, name: str, c: int, attrs: dict[str, Any]) -> _ChannelHandle:
        if name not in self.handles:
            self.handles[name] = self.sink.open(name, self.layout.shape, self.layout.axes,
                                                attrs)
        return _ChannelHandle(channel_of(self.handles[name].array, self.layout, c))

    def commit(self, extras: bool) -> dict[str, Any]:
        """Commit the denoised image, and the extra outputs with ``extras`` (else remove
        them)."""
        images = {}
        for name, handle in self.handles.items():
            if name == "denoised" or extras:
                images[name] = handle.commit()
            else:
                handle.abort()
        return images

    def abort(self) -> None:
        for handle in self.handles.values():
            handle.abort()


def _gather(result: PipelineResult, part: PipelineResult, c: int,
            tables: dict[str, list[dict]]) -> None:
    """Channel ``c``'s result into the image's."""
    result.memory = result.memory or part.memory
    result.tta = part.tta
    result.predict_seconds += part.predict_seconds
    if part.removed_noise is not None:
        result.removed_noise = min(part.removed_noise, result.removed_noise
                                   if result.removed_noise is not None else 1.0)
    result.warnings += [f"channel {c}: {w}" for w in part.warnings]
    for name, curves in part.curves.items():
        result.curves.setdefault(name, []).extend(curves)
    for name, table in part.tables.items():
        tables.setdefault(name, []).append(table)


def apply_channels(trained: ChannelModels, data, axes: str | None, *, sink=None,
                   tile: TileConfig | None = None, stop: threading.Event | None = None,
                   outputs: Sequence[ExtraOutput] = (), model_dir=None,
                   device: str | torch.device = "auto", inference: str | None = None,
                   attrs: dict[str, Any] | None = None, predictor=None,
                   ) -> Generator[object, None, PipelineResult]:
    """:func:`~.pipeline.apply_pipeline` for one model per channel (same arguments and
    result): each channel through the one-channel pipeline with its model, into its channel
    of the image's outputs; curves are listed and table entries numbered by channel, each
    warning names its channel, ``removed_noise`` is the lowest channel's.

    A stop request during the extra outputs of a channel abandons the extra outputs of
    every channel and is used up: the remaining channels are denoised."""
    from .checkpoint import save_model

    t0 = time.perf_counter()
    sink = sink if sink is not None else MemorySink()
    stop = stop if stop is not None else threading.Event()
    layout = check_image(data, trained.axes_for(tuple(data.shape), axes))
    check_compatible(trained, layout)
    result, attrs = PipelineResult(trained), dict(attrs or {})
    if model_dir is not None:
        result.model_path = save_model(trained, model_dir)
        attrs["model_path"] = str(result.model_path)
    shared, tables, wanted = _SharedOutputs(sink, layout), {}, list(outputs)
    try:
        for c, model in enumerate(trained.models):
            part = yield from _relabel(apply_pipeline(
                model, channel_of(data, layout, c), channel_axes(layout.axes),
                sink=shared.channel(c), tile=tile, stop=stop, outputs=wanted, device=device,
                inference=inference, attrs=attrs, predictor=predictor), c, trained.channels)
            _gather(result, part, c, tables)
            if not part.complete:
                shared.abort()
                result.complete = False
                return result
            if not part.outputs_complete:
                stop.clear()
                wanted, result.outputs_complete = [], False
    except BaseException:
        shared.abort()
        raise
    result.images = shared.commit(extras=result.outputs_complete)
    if result.outputs_complete:
        result.tables = {name: merge_tables(t) for name, t in tables.items()}
    else:
        result.curves.clear()
    result.seconds = time.perf_counter() - t0
    return result


def compare_channels(result: PipelineResult, noisy, layout: Layout,
                     stop: threading.Event | None = None) -> None:
    """:func:`~.pipeline.compare_with_classical` per channel's model: ``result.yardstick``
    lists the channels' comparisons; each warning names its channel."""
    found = []
    for c, model in enumerate(result.trained.models):
        part = PipelineResult(model)
        data = channel_of(noisy, layout, c)
        compare_with_classical(part, data, check_image(data, channel_axes(layout.axes)), stop)
        result.warnings += [f"channel {c}: {w}" for w in part.warnings]
        found.append(part.yardstick)
    if any(f is not None for f in found):
        result.yardstick = {"channels": found, "network_better": all(
            f["network_better"] for f in found if f is not None)}
