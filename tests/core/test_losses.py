"""Masked mean squared error."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.losses import masked_mse


def test_only_masked_pixels_count() -> None:
    pred = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 2.0], [100.0, 3.0]]]])
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert float(masked_mse(pred, target, mask)) == pytest.approx((1 + 4) / 2)


def test_empty_mask_is_zero_not_nan() -> None:
    x = torch.ones(1, 1, 2, 2)
    assert float(masked_mse(x, 2 * x, torch.zeros_like(x))) == 0.0
