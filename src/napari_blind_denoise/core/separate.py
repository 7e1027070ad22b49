"""One model per channel (``ModelConfig.channels == "separate"``, ``core.channels``): its
training, every channel trained as a one-channel image (its prediction, pipeline and
yardstick: ``core.separate_predict``).

:class:`ChannelSession` holds one :class:`~.train.TrainingSession` per channel
(:func:`~.channels.channel_of` the training arrays, :func:`~.channels.channel_config` its
budget) and steps them in turn, one step each per round, so that a stop request or the time
budget ends every channel's training with its best model so far. Each session draws from
the global torch generator as if it ran alone (its state is kept between its turns), so a
channel's model is the one a one-channel run of that channel with that configuration gives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from .channels import channel_axes, channel_config, channel_of, separate
from .config import DenoiseConfig
from .data.axes import Layout
from .data.validate import check_image
from .events import Preview, TrainEvent
from .methods import get_method
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
