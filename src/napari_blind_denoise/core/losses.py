"""Loss functions (pure)."""

from __future__ import annotations

import torch


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over masked pixels only (``mask`` is 1 where scored)."""
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)
