"""One model per channel (``core.separate``): prediction, the pipeline and the yardstick.

Every output of the image is opened once in the caller's sink; channel ``c``'s model writes
channel ``c`` of it through :func:`~.pipeline.apply_pipeline`'s one-channel path, and the
outputs are committed once every channel is done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .channels import channel_axes, channel_of, merge_tables
from .config import TileConfig
from .data.axes import Layout
from .data.validate import check_image
from .events import PredictEvent
from .methods import ExtraOutput
from .pipeline import MemorySink, PipelineResult, apply_pipeline, compare_with_classical
from .predict import check_compatible, predict
from .trained import ChannelModels


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
