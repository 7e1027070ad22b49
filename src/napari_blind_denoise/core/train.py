"""Blind-spot training as a generator of progress events.

``for event in train(...)`` runs the optimisation step by step; the generator's return value
is the :class:`TrainedModel`. :class:`TrainingSession` exposes the same loop plus ``stop()``
and ``best_model()``, so a GUI can stop from another thread, or simply close the generator,
and still keep the best model seen so far.
"""

from __future__ import annotations

import contextlib
import copy
import math
import threading
import time
from collections.abc import Generator, Iterator, Mapping
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import torch

from .channels import separate
from .config import DenoiseConfig, ModelConfig
from .data.axes import Layout
from .data.normalize import NormStats, compute_norm_stats
from .data.patches import PatchSampler, fit_patch_size, split_regions
from .data.validate import check_image
from .data.volume import VolumeSampler
from .device import (
    configure_threads,
    free_memory,
    memory_format,
    pick_device,
    to_memory_format,
    use_amp,
)
from .dims import resolve_dims
from .errors import InputError
from .events import Preview, TrainEvent
from .methods import Batch, Method, get_method
from .methods.base import Fitted
from .preview import Previewer, PreviewOptions
from .schedule import WeightAverage, lr_at
from .trained import ChannelModels, TrainedModel
from .version import __version__

MAX_SKIPPED_STEPS = 20  # non-finite losses in a row tolerated under mixed precision

__all__ = ["TrainedModel", "TrainingSession", "WeightAverage", "lr_at", "run_to_completion",
           "train"]


def _fit_config(config: DenoiseConfig, layout: Layout, method: Method,
                spacing: Mapping[str, float] | None = None
                ) -> tuple[DenoiseConfig, dict[str, Any]]:
    """``config`` fitted to the data: 2-D or 3-D (:func:`~.dims.resolve_dims`, with what
    to record), its channel count, a patch that fits its planes (:func:`fit_patch_size`)
    and what the method completes (its noise model)."""
    config, dims_info = resolve_dims(config, layout, method, spacing)
    channels = layout.channels
    size = fit_patch_size(layout, config.train.patch_size, config.model.divisor)
    if size != config.train.patch_size:
        config = replace(config, train=replace(config.train, patch_size=size))
    if config.model.in_channels != channels or config.model.out_channels != channels:
        model = ModelConfig(**{**config.model.__dict__, "in_channels": channels,
                               "out_channels": channels})
        config = replace(config, model=model)
    return method.fit_config(config), dims_info


def _as_inputs(data, method: Method) -> tuple:
    """The training arrays: ``data`` itself, or a tuple of ``method.inputs`` arrays."""
    arrays = tuple(data) if isinstance(data, tuple | list) else (data,)
    if len(arrays) != method.inputs:
        raise InputError(f"method {method.id!r} trains on {method.inputs} noisy array(s) of "
                         f"the same field, got {len(arrays)}")
    shapes = [tuple(a.shape) for a in arrays]
    if len(set(shapes)) > 1:
        others = ", ".join(str(s) for s in shapes[1:])
        raise InputError(f"the training arrays differ in shape: the image is {shapes[0]}, "
                         f"the other acquisition {others}; a pair must be of one shape")
    return arrays


class TrainingSession:
    """One training run on one array (or, for methods trained on pairs, a tuple of them).

    Parameters
    ----------
    data
        numpy, zarr or dask array (read window by window, never modified); a tuple of
        ``method.inputs`` arrays of one shape for methods that train on several acquisitions.
    axes
        Axes string of ``data`` (``None`` guesses: 2-D ``YX``, 3-D ``ZYX``...).
    config
        Method, mask, model and training options. ``model.in_channels`` is set from the data.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``.
    preview
        Live previews: when the step's :class:`TrainEvent` carries one
        (:class:`~napari_blind_denoise.core.preview.PreviewOptions`; ``None``: never).
        Methods that are fitted rather than trained show none.
    spacing
        Voxel size per axis letter (``{"Z": 2.0, "Y": 0.5, "X": 0.5}``, from the layer's
        scale or the file's metadata; ``None``: unknown): a 3-D network pools only in Y and
        X while the voxel is longer in Z (:func:`~.dims.yx_levels_for`).
    """

    def __init__(self, data, axes: str | None, config: DenoiseConfig, *,
                 device: str | torch.device = "auto",
                 preview: PreviewOptions | None = None,
                 spacing: Mapping[str, float] | None = None) -> None:
        self.method: Method = get_method(config.method)
        self.inputs = _as_inputs(data, self.method)
        self.data = self.inputs[0]
        self.layout: Layout = check_image(self.data, axes)
        if separate(config, self.layout):
            raise ValueError("channels 'separate' trains one model per channel: use "
                             "core.separate.session_for or ChannelSession for this image")
        self.config, self._dims_info = _fit_config(config, self.layout, self.method, spacing)
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.preview = preview
        self._stop = threading.Event()
        self._requests: tuple[threading.Event, ...] = (self._stop,)
        self._stopped_early = False
        self._best_state: dict[str, torch.Tensor] | None = None
        self._best_val = math.inf  # lowest validation loss (reported)
        self._best_mse = math.inf  # lowest validation masked MSE (selects the kept model)
        self._best_step = 0
        self._selected_on = "val_mse"
        self._steps_done = 0
        self._train_seconds = 0.0
        self._last_mse = math.nan
        self._monitor_info: dict[str, Any] = {}
        self.adapted: dict[str, Any] = {}  # what the method chose from the data
        self._pending_notices: list[str] = []
        self._batch_halved = False
        self._skipped = self._skipped_in_a_row = 0
        self.norm: NormStats | None = None
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    # -- control from outside -------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to end after the current step (thread-safe)."""
        self._stop.set()

    def stopping(self) -> bool:
        """True once :meth:`stop` was called or the event given to :meth:`run` was set."""
        return any(e.is_set() for e in self._requests)

    def best_model(self) -> TrainedModel:
        """The kept model so far: the newest whose validation masked MSE is within
        ``select_tolerance`` of the lowest seen. Usable even after the loop was closed."""
        if self.model is None or self.norm is None:
            raise RuntimeError("training has not started yet")
        model = copy.deepcopy(self.model)
        if self._best_state is not None:
            model.load_state_dict(self._best_state)
        model.eval()
        info = {
            "steps": self._steps_done,
            "best_step": self._best_step,
            "best_val_loss": None if math.isinf(self._best_val) else self._best_val,
            "best_val_mse": None if math.isinf(self._best_mse) else self._best_mse,
            "selected_on": self._selected_on,
            "train_seconds": round(self._train_seconds, 3),
            "stopped_early": self._stopped_early or self.stopping(),
            "device": str(self.device),
            "package_version": __version__,
            "torch_version": torch.__version__,
            "adapted": {k: v for k, v in self.adapted.items() if k != "notice"},
            "skipped_steps": self._skipped,
            "batch_halved": self._batch_halved,
            **self._monitor_info,
        }
        return TrainedModel(model, self.config, self.norm, self.layout.axes, info)

    # -- the loop -------------------------------------------------------------------------
    def _prepare(self) -> None:
        """What the method chooses from the data, the seed, threads and normalisation."""
        self.config, self.adapted = self.method.adapt(self.config, self.data, self.layout)
        if self._dims_info:  # the network's dimensions first, then the method's choices
            notes = [self._dims_info.get("notice"), self.adapted.get("notice")]
            self.adapted = {**self._dims_info, **self.adapted,
                            "notice": "; ".join(n for n in notes if n) or None}
        cfg = self.config.train
        torch.manual_seed(cfg.seed)
        if self.device.type == "cpu":
            configure_threads()
        self.norm = compute_norm_stats(self.data, self.layout, rng=np.random.default_rng(cfg.seed),
                                       allow_missing=self.method.accepts_missing)

    def _setup(self):
        """Samplers, the fixed validation batch, network and optimiser."""
        cfg = self.config.train
        train_region, val_region, _ = split_regions(self.layout, cfg.patch_size)
        partners = self.inputs[1:]
        volume = self.config.model.dims == 3
        sampler_cls = partial(VolumeSampler, depth=cfg.patch_depth) if volume else PatchSampler
        sampler = sampler_cls(self.data, self.layout, self.norm, cfg.patch_size, train_region,
                              partners, self.method.transforms(self.config))
        val_sampler = sampler_cls(self.data, self.layout, self.norm, cfg.patch_size,
                                  val_region, partners)
        make_batch = self.method.batch_maker(self.config)
        val_sources = val_sampler.sample_all(cfg.val_patches, np.random.default_rng(cfg.seed + 1),
                                             False)
        val = make_batch([torch.from_numpy(v) for v in val_sources],
                         torch.Generator().manual_seed(cfg.seed + 1))
        self.model = self.method.network(self.config).to(self.device)
        self.method.prepare(self.model, self.data, self.layout, self.norm, self.config)
        self._mem = memory_format(self.config.model.dims, cfg.channels_last)
        self.model = to_memory_format(self.model, self._mem)
        self.optimizer = torch.optim.Adam(self.method.param_groups(self.model, self.config),
                                          lr=lr_at(0.0, cfg), weight_decay=cfg.weight_decay)
        return sampler, make_batch, val

    def run(self, stop: threading.Event | None = None,
            ) -> Generator[TrainEvent, None, TrainedModel]:
        """Train; yields one :class:`TrainEvent` per step, returns the best model.

        ``stop`` (or :meth:`stop`) ends training after the current step and skips what is
        left of the method's post-training step (:meth:`Method.finish`, e.g. the noise
        calibration); either is checked while that step runs, so the kept model comes back
        promptly.
        """
        if stop is not None:
            self._requests = (self._stop, stop)
        self._prepare()
        fitting = self.method.fit(self.config, self.data, self.layout, self.norm,
                                  _AnyEvent(self._requests))
        if fitting is not None:
            yield from self._fit(fitting)
            self._stopped_early = self.stopping()
            return self.method.finish(self.best_model(), self.data, self.layout,
                                      stop=_AnyEvent(self._requests))
        cfg = self.config.train
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        sampler, make_batch, val_batch = self._setup()
        previewer = None if self.preview is None else Previewer(
            self.preview, self.data, self.layout, self.norm, self.config, self.method)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp(self.device))
        ema = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay else None
        t0 = time.perf_counter()
        val: tuple[float | None, float | None] = (None, None)
        for step in range(1, cfg.steps + 1):
            lr = self._set_lr(step, time.perf_counter() - t0)
            loss = self._safe_step(scaler, sampler, make_batch, rng, gen)
            if ema is not None:
                ema.update(step)
            self._steps_done = step
            elapsed = self._train_seconds = time.perf_counter() - t0
            out_of_time = cfg.time_budget is not None and elapsed >= cfg.time_budget
            last = step == cfg.steps or out_of_time or self.stopping()
            curve = None
            if step % cfg.val_every == 0 or last:
                with ema.swapped() if ema is not None else contextlib.nullcontext():
                    *val, curve = self._validate(val_batch, step)
            shown = None if last else self._preview(previewer, ema, step, elapsed)
            yield self._event(step, loss, lr, elapsed, val, curve, self._notice(step), shown)
            if last:
                break
        self._stopped_early = self.stopping()
        return self.method.finish(self.best_model(), self.data, self.layout,
                                  stop=_AnyEvent(self._requests))

    def _fit(self, fitting: Iterator[Fitted]) -> Generator[TrainEvent, None, None]:
        """Drive a method that is fitted, not trained (:meth:`Method.fit`): one event per
        candidate; the best so far is the kept model; ends on stop or the time budget."""
        budget = self.config.train.time_budget
        self._selected_on = "self_supervised_loss"
        t0 = time.perf_counter()
        try:
            for step, fitted in enumerate(fitting, 1):
                if self.model is None or fitted.best < self._best_val:
                    self._best_val = self._best_mse = fitted.best
                    self._best_step = step
                    self.config = fitted.config
                    self.model = self.method.network(self.config).eval()
                self.adapted = {**self.adapted, **fitted.info}
                self._steps_done = step
                elapsed = self._train_seconds = time.perf_counter() - t0
                last = (step >= fitted.n_steps or self.stopping()
                        or (budget is not None and elapsed >= budget))
                notice = "; ".join(n for n in (self._notice(step),
                                               fitted.notice if last else None) if n)
                yield TrainEvent(step=step, n_steps=fitted.n_steps, loss=fitted.loss,
                                 val_loss=fitted.loss, best_val_loss=self._best_val, lr=0.0,
                                 elapsed=elapsed, time_budget=budget,
                                 patches_per_s=step / max(elapsed, 1e-9), mse=fitted.loss,
                                 val_mse=fitted.loss, best_val_mse=self._best_mse,
                                 notice=notice or None)
                if last:
                    break
        finally:
            close = getattr(fitting, "close", None)
            if close is not None:
                close()

    def _notice(self, step: int) -> str | None:
        """What to tell the user at this step: the method's choices first, then faults."""
        notes = [self.adapted.get("notice")] if step == 1 else []
        notes += self._pending_notices
        self._pending_notices = []
        text = "; ".join(n for n in notes if n)
        return text or None

    def _safe_step(self, scaler, sampler, make_batch, rng, gen) -> float:
        """One optimiser step; on GPU out-of-memory the batch is halved once and the step
        retried; a non-finite loss under mixed precision skips the step (the loss scale is
        lowered) unless it persists."""
        cfg = self.config.train
        while True:
            sources = sampler.sample_all(cfg.batch_size, rng, cfg.augment)
            batch = make_batch([torch.from_numpy(x) for x in sources], gen)
            try:
                return self._step(scaler, batch)
            except torch.OutOfMemoryError:
                self.optimizer.zero_grad(set_to_none=True)
                free_memory(self.device)
                if self._batch_halved or cfg.batch_size < 2:
                    raise InputError(
                        f"out of memory on {self.device} with {cfg.batch_size} patches of "
                        f"{cfg.patch_size} px per step; use a smaller --patch-size or "
                        "--batch-size, or --device cpu") from None
                self._batch_halved = True
                cfg = replace(cfg, batch_size=cfg.batch_size // 2)
                self.config = replace(self.config, train=cfg)
                self._pending_notices.append(
                    f"out of memory on {self.device}: the batch was halved to "
                    f"{cfg.batch_size} patches")

    def _set_lr(self, step: int, elapsed: float) -> float:
        """Schedule position from steps or the clock, whichever is further; returns the rate."""
        cfg = self.config.train
        progress = step / cfg.steps
        if cfg.time_budget:
            progress = max(progress, elapsed / cfg.time_budget)
        lr = lr_at(progress, cfg)
        for g in self.optimizer.param_groups:
            g["lr"] = min(lr * g["lr_scale"], g["lr_max"])
        return lr

    def _preview(self, previewer: Previewer | None, ema, step: int, elapsed: float
                 ) -> Preview | None:
        """The live preview of this step, if one is due (with the averaged weights when
        training keeps an average, as validation does)."""
        if previewer is None or not previewer.due(step, elapsed):
            return None
        with ema.swapped() if ema is not None else contextlib.nullcontext():
            return previewer(self.model, step, elapsed)

    def _event(self, step: int, loss: float, lr: float, elapsed: float, val, curve,
               notice: str | None, preview: Preview | None = None) -> TrainEvent:
        cfg = self.config.train
        return TrainEvent(step=step, n_steps=cfg.steps, loss=loss, val_loss=val[0],
                          best_val_loss=None if math.isinf(self._best_val) else self._best_val,
                          lr=lr, elapsed=elapsed, time_budget=cfg.time_budget,
                          patches_per_s=step * cfg.batch_size / max(elapsed, 1e-9),
                          noise_curve=curve, mse=self._last_mse, val_mse=val[1],
                          best_val_mse=None if math.isinf(self._best_mse) else self._best_mse,
                          notice=notice, preview=preview)

    def _to_device(self, batch: Batch) -> Batch:
        dev = self.device
        return Batch(batch.input.to(dev, non_blocking=True).contiguous(memory_format=self._mem),
                     batch.target.to(dev, non_blocking=True),
                     batch.mask.to(dev, non_blocking=True))

    def _step(self, scaler, batch: Batch) -> float:
        scores = self.method.objective(self.model, self._to_device(batch))
        loss = scores.loss
        if not torch.isfinite(loss):
            self._skipped += 1
            self._skipped_in_a_row += 1
            if not scaler.is_enabled() or self._skipped_in_a_row > MAX_SKIPPED_STEPS:
                raise FloatingPointError("training diverged (loss is not finite); "
                                         "try a lower learning rate")
            # mixed precision: an overflow in float16, skip this step as GradScaler would
            scaler.update(scaler.get_scale() / 2)
            return float("nan")
        self._skipped_in_a_row = 0
        opt = self.optimizer
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        self._last_mse = float(scores.mse)
        return float(loss.detach())

    def _validate(self, batch: Batch, step: int):
        """Validation loss, masked MSE and the method's live curve (or ``None``)."""
        self.model.eval()
        with torch.inference_mode():
            scores = self.method.objective(self.model, self._to_device(batch))
        self.model.train()
        loss, mse = float(scores.loss), float(scores.mse)
        # Masked-pixel losses are dominated by the noise: while the image quality still
        # improves by dB, they move by well under 1 %. Keep the newest model unless its
        # validation MSE is clearly (select_tolerance) worse than the best one seen. The
        # masked MSE, not the likelihood: an N-net's likelihood keeps improving by
        # sharpening the noise model after the signal has converged (or degraded).
        if mse <= self._best_mse * (1.0 + self.config.train.select_tolerance):
            self._best_step = step
            self._best_state = {k: v.detach().to("cpu", copy=True)
                                for k, v in self.model.state_dict().items()}
        self._best_mse = min(self._best_mse, mse)
        self._best_val = min(self._best_val, loss)
        curve, info = self.method.monitor(self.model, scores.signal, self.norm)
        self._monitor_info.update(info)
        return loss, mse, curve


class _AnyEvent:
    """Looks like a ``threading.Event`` that is set when any of ``events`` is."""

    def __init__(self, events: tuple[threading.Event, ...]) -> None:
        self._events = events

    def is_set(self) -> bool:
        return any(e.is_set() for e in self._events)


def train(data, axes: str | None, config: DenoiseConfig, *,
          device: str | torch.device = "auto"
          ) -> Generator[TrainEvent, None, TrainedModel | ChannelModels]:
    """Train a blind-spot denoiser on ``data``.

    Yields
    ------
    TrainEvent
        One per optimisation step (one model per channel: per round of one step each).

    Returns
    -------
    TrainedModel or ChannelModels
        The newest model whose validation loss is within ``select_tolerance`` of the lowest;
        with ``channels="separate"`` on an image with several channels, one per channel.
    """
    from .separate import session_for

    session = session_for(data, axes, config, device=device)
    return (yield from session.run())


def run_to_completion(gen: Generator[Any, None, Any]) -> Any:
    """Exhaust a generator and return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
