"""Shared fixtures: seeded generators, small synthetic images, tiny training configs."""

from __future__ import annotations

import os

# Idle OpenMP workers sleep instead of spinning. On a busy or oversubscribed 2-core machine,
# spinning workers make these tiny CPU trainings 5-10x slower. Only effective when set before
# torch is first imported; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.core import (
    BlendConfig,
    DenoiseConfig,
    ModelConfig,
    default_config,
    get_method,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def require_shared_data(*parts: str) -> Path:
    """Path below ``SHARED_DATA``; skips the calling test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not available: {path} (expected next to the repository "
                    "in ../shared/data)")
    return path


def make_blobs(shape: tuple[int, int], seed: int = 0, n: int = 12) -> np.ndarray:
    """Smooth synthetic image in ``[0, ~1]``: a sum of Gaussian blobs, float32 ``(Y, X)``."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros(shape, np.float32)
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        s = rng.uniform(0.05, 0.12) * min(h, w)
        img += rng.uniform(0.5, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return img.astype(np.float32)


def make_noisy(shape: tuple[int, int], seed: int = 0, offset: float = 100.0,
               gain: float = 400.0, sigma: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` float32 pair in camera-like units (offset + gain * blobs + noise)."""
    clean = (offset + gain * make_blobs(shape, seed)).astype(np.float32)
    noise = np.random.default_rng(seed + 1000).normal(0.0, sigma, shape)
    return (clean + noise).astype(np.float32), clean


def make_volume(shape: tuple[int, int, int], seed: int = 0, n: int = 16, sigma: float = 0.08,
                offset: float = 100.0, gain: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` float32 ZYX pair: a sum of 3-D Gaussian blobs (so the signal varies
    along Z as along Y and X) in camera-like units, plus Gaussian noise of ``sigma`` times
    ``gain``."""
    rng = np.random.default_rng(seed)
    d, h, w = shape
    zz, yy, xx = np.mgrid[0:d, 0:h, 0:w].astype(np.float32)
    clean = np.zeros(shape, np.float32)
    for _ in range(n):
        cz, cy, cx = rng.uniform(0, d), rng.uniform(0, h), rng.uniform(0, w)
        s = rng.uniform(0.08, 0.16) * min(h, w)
        r2 = (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2
        clean += rng.uniform(0.5, 1.0) * np.exp(-r2 / (2 * s * s))
    clean = (offset + gain * clean).astype(np.float32)
    noise = np.random.default_rng(seed + 1000).normal(0.0, sigma * gain, shape)
    return (clean + noise).astype(np.float32), clean


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh seeded numpy generator."""
    return np.random.default_rng(12345)


@pytest.fixture
def clean_image() -> np.ndarray:
    """Smooth 96x96 float32 blob image, camera-like units."""
    return make_noisy((96, 96))[1]


@pytest.fixture
def noisy_image() -> np.ndarray:
    """``clean_image`` plus Gaussian noise (sigma 30 on a ~400 range), float32 96x96."""
    return make_noisy((96, 96))[0]


@pytest.fixture
def shared_data() -> Callable[..., Path]:
    """``shared_data("fiji_hela_cells_clean", "hela_cells_CYX.tif")``: path, or skip."""
    return require_shared_data


def tiny_config(method: str = "n2v", *, base_channels: int = 8, depth: int = 2,
                residual: bool | None = None, batch_norm: bool = False, blend: str = "off",
                **train) -> DenoiseConfig:
    """A fast CPU configuration: small UNet, 32-pixel patches, batch 4, few steps.

    ``residual=None`` keeps the package default of :class:`ModelConfig`. ``blend``: the
    blend with a calibrated filter of the methods that have one (n2v, n2s), off unless a
    test asks for it (tests/core/methods/test_blend.py): its calibration after training is
    not what the other tests check, and they pin what the network alone predicts.
    """
    train = {"steps": 10, "patch_size": 32, "batch_size": 4, "val_patches": 4,
             "val_every": 5, **train}
    cfg = default_config(method, "cpu", **train)
    arch = {"depth": depth, "base_channels": base_channels, "batch_norm": batch_norm}
    if residual is not None:
        arch["residual"] = residual
    cfg = replace(cfg, model=ModelConfig(**arch))
    if get_method(method).blends:
        cfg = replace(cfg, blend=BlendConfig(mode=blend))
    return cfg


@pytest.fixture
def make_config() -> Callable[..., DenoiseConfig]:
    """Factory for :func:`tiny_config` (``make_config("n2s", steps=20)``)."""
    return tiny_config
