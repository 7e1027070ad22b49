"""The one-call ``denoise`` API."""

from __future__ import annotations

import numpy as np
import pytest

import napari_blind_denoise
from napari_blind_denoise.core import TileConfig, denoise


def test_denoise(noisy_image: np.ndarray) -> None:
    data = noisy_image.copy()
    out = denoise(data, "n2s", device="cpu", steps=3, patch_size=32, batch_size=4,
                  tile=TileConfig(tile_size=64, overlap=16))
    assert out.shape == data.shape and out.dtype == np.float32
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(data, noisy_image)


def test_top_level_lazy_export() -> None:
    assert napari_blind_denoise.denoise is denoise
    with pytest.raises(AttributeError):
        _ = napari_blind_denoise.not_there


def test_exception_unknown_method(noisy_image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="unknown method"):
        denoise(noisy_image, "n2x")
