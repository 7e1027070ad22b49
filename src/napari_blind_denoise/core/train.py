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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from .. import __version__
from .axes import Layout
from .config import DenoiseConfig, ModelConfig, NoiseModelConfig
from .device import configure_threads, pick_device, use_amp
from .events import TrainEvent
from .masking import Masked, build_masker
from .methods import METHODS
from .models import build_network
from .noise_calibration import measure_correction
from .noise_model import curve_from_net
from .normalize import NormStats, compute_norm_stats, quantization_step
from .objectives import objective_for
from .patches import PatchSampler, fit_patch_size, split_regions
from .schedule import WeightAverage, lr_at
from .validate import check_image

__all__ = ["TrainedModel", "TrainingSession", "WeightAverage", "lr_at", "run_to_completion",
           "train"]
CURVE_POINTS = 64


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


def _fit_config(config: DenoiseConfig, layout: Layout) -> DenoiseConfig:
    """``config`` fitted to the data: its channel count, a patch that fits its planes
    (:func:`fit_patch_size`) and, for noise-model methods, a noise model."""
    channels = layout.channels
    size = fit_patch_size(layout, config.train.patch_size, config.model.divisor)
    if size != config.train.patch_size:
        config = replace(config, train=replace(config.train, patch_size=size))
    if config.model.in_channels != channels or config.model.out_channels != channels:
        model = ModelConfig(**{**config.model.__dict__, "in_channels": channels,
                               "out_channels": channels})
        config = replace(config, model=model)
    method = METHODS.get(config.method)
    if method is not None and method.noise_model and config.noise_model is None:
        config = replace(config, noise_model=NoiseModelConfig())
    if config.noise_model is not None and (method is None or not method.noise_model):
        raise ValueError(f"method {config.method!r} has no noise model; "
                         "leave DenoiseConfig.noise_model as None")
    return config


# the N-net's learning rate never exceeds this: 30x the CPU preset's 3e-3 made it diverge
NOISE_NET_MAX_LR = 0.03


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
        self.layout: Layout = check_image(data, axes)
        self.data = data
        self.config = _fit_config(config, self.layout)
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self._stop = threading.Event()
        self._best_state: dict[str, torch.Tensor] | None = None
        self._best_val = math.inf  # lowest validation loss (reported)
        self._best_mse = math.inf  # lowest validation masked MSE (selects the kept model)
        self._best_step = 0
        self._steps_done = 0
        self._train_seconds = 0.0
        self._last_mse = math.nan
        self._signal_range: list[list[float]] | None = None
        self.norm: NormStats | None = None
        self.model: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    # -- control from outside -------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to end after the current step (thread-safe)."""
        self._stop.set()

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
            "selected_on": "val_mse",
            "train_seconds": round(self._train_seconds, 3),
            "stopped_early": self._stop.is_set(),
            "device": str(self.device),
            "package_version": __version__,
            "torch_version": torch.__version__,
        }
        if self._signal_range is not None:
            info["signal_range"] = self._signal_range
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

        self.model = build_network(self.config).to(self.device)
        self.objective = objective_for(self.model)
        self._set_bin_width(np.random.default_rng(cfg.seed))
        mem = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.model = self.model.to(memory_format=mem)
        opt = self.optimizer = torch.optim.Adam(self._param_groups(), lr=lr_at(0.0, cfg),
                                                weight_decay=cfg.weight_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp(self.device))

        ema = WeightAverage(self.model, cfg.ema_decay) if cfg.ema_decay else None
        t0 = time.perf_counter()
        val: tuple[float | None, float | None] = (None, None)
        for step in range(1, cfg.steps + 1):
            elapsed = time.perf_counter() - t0
            progress = step / cfg.steps
            if cfg.time_budget:
                progress = max(progress, elapsed / cfg.time_budget)
            lr = lr_at(progress, cfg)
            for g in opt.param_groups:
                g["lr"] = min(lr * g["lr_scale"], g["lr_max"])
            batch = torch.from_numpy(sampler.sample(cfg.batch_size, rng, cfg.augment))
            loss = self._step(opt, scaler, batch, masker(batch, gen), mem)
            if ema is not None:
                ema.update(step)
            self._steps_done = step
            elapsed = time.perf_counter() - t0
            self._train_seconds = elapsed
            out_of_time = cfg.time_budget is not None and elapsed >= cfg.time_budget
            last = step == cfg.steps or out_of_time or self._stop.is_set()
            curve = None
            if step % cfg.val_every == 0 or last:
                with ema.swapped() if ema is not None else contextlib.nullcontext():
                    *val, curve = self._validate(val_batch, val_masked, mem, step)
            yield TrainEvent(step=step, n_steps=cfg.steps, loss=loss, val_loss=val[0],
                             best_val_loss=None if math.isinf(self._best_val) else self._best_val,
                             lr=lr, elapsed=elapsed, time_budget=cfg.time_budget,
                             patches_per_s=step * cfg.batch_size / max(elapsed, 1e-9),
                             noise_curve=curve, mse=self._last_mse, val_mse=val[1],
                             best_val_mse=None if math.isinf(self._best_mse) else self._best_mse)
            if last:
                break
        return self.calibrated(self.best_model())

    def calibrated(self, trained: TrainedModel) -> TrainedModel:
        """``trained`` with the D-net's error removed from its noise model (``nnet`` with
        ``noise_model.calibrate``; see :mod:`~napari_blind_denoise.core.noise_calibration`)."""
        nm = self.config.noise_model
        if nm is None or not nm.calibrate or not hasattr(trained.model, "noise_net"):
            return trained
        trained.info["noise_correction"] = measure_correction(
            trained.model.denoiser, trained.model.noise_net, self.data, self.layout, self.norm,
            period=self.config.mask.grid_period, divisor=self.config.model.divisor,
            seed=self.config.train.seed)
        return trained

    def _param_groups(self) -> list[dict]:
        """Optimiser groups: the denoiser at the schedule's rate, an N-net at
        ``noise_model.lr_scale`` times it."""
        noise_net = getattr(self.model, "noise_net", None)
        if noise_net is None or self.config.noise_model is None:
            return [{"params": list(self.model.parameters()), "lr_scale": 1.0,
                     "lr_max": math.inf}]
        own = {id(p) for p in noise_net.parameters()}
        rest = [p for p in self.model.parameters() if id(p) not in own]
        return [{"params": rest, "lr_scale": 1.0, "lr_max": math.inf},
                {"params": list(noise_net.parameters()),
                 "lr_scale": self.config.noise_model.lr_scale, "lr_max": NOISE_NET_MAX_LR}]

    def _step(self, opt, scaler, batch: torch.Tensor, masked: Masked, mem) -> float:
        dev = self.device
        x = masked.input.to(dev, non_blocking=True).contiguous(memory_format=mem)
        target = batch.to(dev, non_blocking=True)
        mask = masked.mask.to(dev, non_blocking=True)
        scores = self.objective(self.model, x, target, mask)
        loss = scores.loss
        if not torch.isfinite(loss):
            raise FloatingPointError("training diverged (loss is not finite); "
                                     "try a lower learning rate")
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        self._last_mse = float(scores.mse)
        return float(loss.detach())

    def _validate(self, batch: torch.Tensor, masked: Masked, mem, step: int):
        """Validation loss, masked MSE and (noise-model methods) the noise curve."""
        dev = self.device
        self.model.eval()
        with torch.inference_mode():
            scores = self.objective(self.model,
                                    masked.input.to(dev).contiguous(memory_format=mem),
                                    batch.to(dev), masked.mask.to(dev))
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
        return loss, mse, self._noise_curve(scores.signal)

    def _set_bin_width(self, rng: np.random.Generator) -> None:
        """Give the N-net the data's quantisation step (normalised units)."""
        if not hasattr(self.model, "noise_net"):
            return
        step = np.asarray(quantization_step(self.data, self.layout, rng=rng))
        scale = np.asarray(self.norm.high) - np.asarray(self.norm.low)
        self.model.noise_net.bin_width.copy_(torch.as_tensor(step / scale))

    def _noise_curve(self, signal: torch.Tensor):
        """``(signal, std)`` of channel 0 over the signal range of the validation patches."""
        if not hasattr(self.model, "noise_net"):
            return None
        flat = signal.detach().float().transpose(0, 1).reshape(signal.shape[1], -1).cpu()
        q = torch.quantile(flat[:, :: max(1, flat.shape[1] // 100_000)],
                           torch.tensor([0.005, 0.995]), dim=1).numpy()  # (2, C)
        low = np.asarray(self.norm.low)
        scale = np.asarray(self.norm.high) - low
        rng = q * scale + low
        self._signal_range = [[float(a), float(b)] for a, b in rng.T]
        s, std = curve_from_net(self.model.noise_net, self.norm, tuple(rng[:, 0]),
                                CURVE_POINTS, 0)
        return tuple(map(float, s)), tuple(map(float, std))


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
