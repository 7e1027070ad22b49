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
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .. import __version__
from .axes import Layout
from .config import DenoiseConfig, TrainConfig
from .device import autocast, configure_threads, pick_device, use_amp
from .events import TrainEvent
from .losses import masked_mse
from .masking import Masked, build_masker
from .models import build_model
from .normalize import NormStats, compute_norm_stats
from .patches import PatchSampler, split_regions
from .validate import check_image


@dataclass
class TrainedModel:
    """A network with everything needed to apply it to new data.

    Attributes
    ----------
    model
        The network (``eval`` mode).
    config
        The configuration it was trained with.
    norm
        Normalisation statistics of the training data.
    axes
        Axes of the training data.
    info
        Training summary: steps, seconds, best step, whether stopped early, versions.
    """

    model: torch.nn.Module
    config: DenoiseConfig
    norm: NormStats
    axes: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """Method id (``n2v``, ``n2s``...)."""
        return self.config.method

    @property
    def channels(self) -> int:
        """Number of image channels the model expects."""
        return self.config.model.in_channels


class WeightAverage:
    """Exponential moving average of a model's parameters (decay warmed up over early steps)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay = decay

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Blend the current weights into the average."""
        d = min(self.decay, (1 + step) / (10 + step))
        torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - d)

    @contextlib.contextmanager
    def swapped(self):
        """Temporarily load the averaged weights into the model."""
        with torch.no_grad():
            saved = [p.detach().clone() for p in self.params]
            for p, s in zip(self.params, self.shadow, strict=True):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, saved, strict=True):
                    p.copy_(s)


def lr_at(progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to ``final_lr_fraction`` of the peak."""
    p = min(max(progress, 0.0), 1.0)
    peak = cfg.learning_rate
    if cfg.warmup_fraction > 0 and p < cfg.warmup_fraction:
        return peak * max(p / cfg.warmup_fraction, 0.02)
    q = (p - cfg.warmup_fraction) / max(1e-9, 1.0 - cfg.warmup_fraction)
    f = cfg.final_lr_fraction
    return peak * (f + (1 - f) * 0.5 * (1 + math.cos(math.pi * q)))


class TrainingSession:
    """One training run on one array.

    Parameters
    ----------
    data
        numpy, zarr or dask array (read window by window, never modified).
    axes
        Axes string of ``data`` (``None`` guesses: 2-D ``YX``, 3-D ``ZYX``...).
    config
        Method, mask, model and training options. ``model.in_channels`` is set from the data.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``.
    """

    def __init__(self, data, axes: str | None, config: DenoiseConfig, *,
                 device: str | torch.device = "auto") -> None:
        cfg = config.train
        self.layout: Layout = check_image(data, axes, min_size=cfg.patch_size)
        c = self.layout.channels
        if config.model.in_channels != c or config.model.out_channels != c:
            model_cfg = type(config.model)(**{**config.model.__dict__,
                                              "in_channels": c, "out_channels": c})
            config = DenoiseConfig(method=config.method, mask=config.mask,
                                   model=model_cfg, train=config.train)
        self.data = data
        self.config = config
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self._stop = threading.Event()
        self._best_state: dict[str, torch.Tensor] | None = None
        self._best_val = math.inf
        self._best_step = 0
        self._steps_done = 0
        self._train_seconds = 0.0
        self.norm: NormStats | None = None
        self.model: torch.nn.Module | None = None

    # -- control from outside -------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to end after the current step (thread-safe)."""
        self._stop.set()

    def best_model(self) -> TrainedModel:
        """The kept model so far: the newest whose validation loss is within
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
            "train_seconds": round(self._train_seconds, 3),
            "stopped_early": self._stop.is_set(),
            "device": str(self.device),
            "package_version": __version__,
            "torch_version": torch.__version__,
        }
        return TrainedModel(model, self.config, self.norm, self.layout.axes, info)

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> Generator[TrainEvent, None, TrainedModel]:
        """Train; yields one :class:`TrainEvent` per step, returns the best model."""
        cfg = self.config.train
        rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        if self.device.type == "cpu":
            configure_threads()
        self.norm = compute_norm_stats(self.data, self.layout, rng=np.random.default_rng(cfg.seed))
        train_region, val_region, _ = split_regions(self.layout, cfg.patch_size)
        sampler = PatchSampler(self.data, self.layout, self.norm, cfg.patch_size, train_region)
        val_sampler = PatchSampler(self.data, self.layout, self.norm, cfg.patch_size, val_region)
        masker = build_masker(self.config.mask)
        val_rng = np.random.default_rng(cfg.seed + 1)
        val_batch = torch.from_numpy(val_sampler.sample(cfg.val_patches, val_rng, False))
        val_masked = masker(val_batch, torch.Generator().manual_seed(cfg.seed + 1))

        self.model = build_model(self.config.model).to(self.device)
        mem = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=mem)
        opt = torch.optim.Adam(self.model.parameters(), lr=lr_at(0.0, cfg),
                               weight_decay=cfg.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp(self.device))

        ema = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay else None
        t0 = time.perf_counter()
        val_loss: float | None = None
        for step in range(1, cfg.steps + 1):
            elapsed = time.perf_counter() - t0
            progress = step / cfg.steps
            if cfg.time_budget:
                progress = max(progress, elapsed / cfg.time_budget)
            lr = lr_at(progress, cfg)
            for g in opt.param_groups:
                g["lr"] = lr
            batch = torch.from_numpy(sampler.sample(cfg.batch_size, rng, cfg.augment))
            loss = self._step(opt, scaler, batch, masker(batch, gen), mem)
            if ema is not None:
                ema.update(step)
            self._steps_done = step
            elapsed = time.perf_counter() - t0
            self._train_seconds = elapsed
            out_of_time = cfg.time_budget is not None and elapsed >= cfg.time_budget
            last = step == cfg.steps or out_of_time or self._stop.is_set()
            if step % cfg.val_every == 0 or last:
                with ema.swapped() if ema is not None else contextlib.nullcontext():
                    val_loss = self._validate(val_batch, val_masked, mem, step)
            yield TrainEvent(step=step, n_steps=cfg.steps, loss=loss, val_loss=val_loss,
                             best_val_loss=None if math.isinf(self._best_val) else self._best_val,
                             lr=lr, elapsed=elapsed, time_budget=cfg.time_budget,
                             patches_per_s=step * cfg.batch_size / max(elapsed, 1e-9))
            if last:
                break
        return self.best_model()

    def _step(self, opt, scaler, batch: torch.Tensor, masked: Masked, mem) -> float:
        dev = self.device
        x = masked.input.to(dev, non_blocking=True).contiguous(memory_format=mem)
        target = batch.to(dev, non_blocking=True)
        mask = masked.mask.to(dev, non_blocking=True)
        with autocast(dev):
            pred = self.model(x)
        loss = masked_mse(pred.float(), target, mask)
        if not torch.isfinite(loss):
            raise FloatingPointError("training diverged (loss is not finite); "
                                     "try a lower learning rate")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return float(loss.detach())

    def _validate(self, batch: torch.Tensor, masked: Masked, mem, step: int) -> float:
        dev = self.device
        self.model.eval()
        with torch.inference_mode(), autocast(dev):
            pred = self.model(masked.input.to(dev).contiguous(memory_format=mem))
            loss = float(masked_mse(pred.float(), batch.to(dev), masked.mask.to(dev)))
        self.model.train()
        # Masked-pixel losses are dominated by the noise: while the image quality still
        # improves by dB, they move by well under 1 %. Keep the newest model unless its
        # validation loss is clearly (select_tolerance) worse than the best one seen.
        if loss <= self._best_val * (1.0 + self.config.train.select_tolerance):
            self._best_step = step
            self._best_state = {k: v.detach().to("cpu", copy=True)
                                for k, v in self.model.state_dict().items()}
        self._best_val = min(self._best_val, loss)
        return loss


def train(data, axes: str | None, config: DenoiseConfig, *,
          device: str | torch.device = "auto") -> Generator[TrainEvent, None, TrainedModel]:
    """Train a blind-spot denoiser on ``data``.

    Yields
    ------
    TrainEvent
        One per optimisation step.

    Returns
    -------
    TrainedModel
        The newest model whose validation loss is within ``select_tolerance`` of the lowest.
    """
    session = TrainingSession(data, axes, config, device=device)
    return (yield from session.run())


def run_to_completion(gen: Generator[Any, None, Any]) -> Any:
    """Exhaust a generator and return its return value."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
