"""n2s with a blind-spot block trains on a sparser grid (BLOCK_GRID_PERIOD); one-pixel
blind spots keep the plain grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import add_noise, get_method, validate_axes
from napari_blind_denoise.core.methods.blindspot import BLOCK_GRID_PERIOD
from tests.conftest import make_blobs, tiny_config


@pytest.fixture(scope="module")
def clean() -> np.ndarray:
    return make_blobs((256, 256), seed=3) * 200.0 + 20.0


def adapt(method: str, noisy: np.ndarray, **mask):
    cfg = tiny_config(method)
    cfg = replace(cfg, mask=replace(cfg.mask, **mask))
    return get_method(method).adapt(cfg, noisy, validate_axes("YX", noisy.shape))


def test_a_measured_block_gets_the_sparse_grid(clean) -> None:
    noisy = add_noise(clean, "scanline", sigma=0.1, length=3, seed=2)
    cfg, info = adapt("n2s", noisy)
    assert cfg.mask.blind_spot == "3x7"
    assert cfg.mask.grid_period == BLOCK_GRID_PERIOD == info["grid_period"]
    masker = get_method("n2s").masker(cfg)
    assert masker.periods == (BLOCK_GRID_PERIOD, BLOCK_GRID_PERIOD)
    scored = masker.mask_phase(torch.zeros(1, 1, 48, 48), 0).mask.sum()
    assert scored == (48 // BLOCK_GRID_PERIOD) ** 2  # scored centres of one phase


def test_a_block_the_user_chose_gets_it_too(clean) -> None:
    noisy = add_noise(clean, "gaussian", sigma=0.05, seed=5)
    cfg, info = adapt("n2s", noisy, blind_spot="1x5")
    assert info["grid_period"] == BLOCK_GRID_PERIOD
    assert (cfg.mask.blind_spot, cfg.mask.grid_period) == ("1x5", BLOCK_GRID_PERIOD)


def test_independent_noise_keeps_the_plain_grid(clean) -> None:
    noisy = add_noise(clean, "gaussian", sigma=0.05, seed=5)
    before = tiny_config("n2s").mask.grid_period
    cfg, info = adapt("n2s", noisy)
    assert cfg.mask.blind_spot == "pixel" and cfg.mask.grid_period == before
    assert "grid_period" not in info


def test_n2v_is_unchanged(clean) -> None:
    noisy = add_noise(clean, "scanline", sigma=0.1, length=3, seed=2)
    cfg, info = adapt("n2v", noisy)
    assert cfg.mask.blind_spot == "3x7" and "grid_period" not in info
    assert cfg.mask.grid_period == tiny_config("n2v").mask.grid_period
