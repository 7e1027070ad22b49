"""Learning-rate schedule and weight averaging used by the training loop."""

from __future__ import annotations

import contextlib
import math

import torch

from .config import TrainConfig


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
