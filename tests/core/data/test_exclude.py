"""Known-corrupted pixels: a mask, thresholds and the salt-and-pepper impulse detector."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core.data.exclude import ImpulseMask, exclude_pixels
from napari_blind_denoise.core.errors import InputError
from tests.conftest import make_blobs


def noisy_8bit(shape=(256, 256), sigma=10.0, low=40.0, high=215.0, seed=0) -> np.ndarray:
    """Blobs between ``low`` and ``high`` with Gaussian noise, rounded and clipped to 8 bits."""
    blobs = make_blobs(shape, seed=seed)
    clean = low + (high - low) * blobs / blobs.max()
    noise = np.random.default_rng(seed + 1).normal(0.0, sigma, shape)
    return np.clip(np.round(clean + noise), 0, 255).astype(np.uint8)


def salt_and_pepper(image: np.ndarray, fraction: float, seed: int = 2):
    rng = np.random.default_rng(seed)
    hit = rng.random(image.shape) < fraction
    salt = rng.random(image.shape) < 0.5
    out = image.copy()
    out[hit & salt], out[hit & ~salt] = 255, 0
    return out, hit


def test_excluded_pixels_are_read_as_unknown() -> None:
    data = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)
    mask = np.zeros(data.shape, bool)
    mask[0, 1, 2] = True
    view = exclude_pixels(data, mask, above=20, below=1)
    assert view.shape == data.shape and view.dtype == np.float32
    block = view[0, 1:, :]
    assert np.isnan(block[0, 2]) and np.isfinite(block[0, :2]).all()
    full = np.asarray(view)
    assert np.isnan(full).sum() == 1 + 4 + 2  # the mask's pixel, 20..23 and 0..1
    assert view.counts() == {"total": 7, "mask": 1, "above": 4, "below": 2}
    assert exclude_pixels(data) is data
    with pytest.raises(InputError, match="shape"):
        exclude_pixels(data, mask[0])


def test_impulses_are_found_on_a_noisy_image() -> None:
    """Salt-and-pepper on a noisy 8-bit image (5 %, and 20 %): more than 95 % found, few
    other pixels flagged."""
    for fraction in (0.05, 0.2):
        corrupted, hit = salt_and_pepper(noisy_8bit(), fraction)
        found = np.asarray(ImpulseMask(corrupted, "YX"))
        assert found[hit].mean() > 0.95, fraction
        assert found[~hit].mean() < 0.005, fraction


@pytest.mark.parametrize("kind", ["8-bit clipped", "float"])
def test_a_clean_noisy_image_has_few_impulses(kind: str) -> None:
    """Gaussian noise alone: under 0.5 % flagged, also when the noise is clipped at 0 and 255
    (many pixels at the extremes, their neighbours near them too)."""
    if kind == "float":
        blobs = make_blobs((256, 256), seed=4)
        image = (100 + 400 * blobs + np.random.default_rng(5).normal(0, 30, blobs.shape))
        image = image.astype(np.float32)
    else:
        image = noisy_8bit(sigma=25.0, low=0.0, high=255.0, seed=4)
        assert ((image == 0) | (image == 255)).mean() > 0.02  # clipping put pixels there
    assert np.asarray(ImpulseMask(image, "YX")).mean() < 0.005


def test_a_window_gives_the_same_impulses_as_the_whole_image() -> None:
    """Windows, tiles, steps and integer keys read a one-pixel halo: the same answer per
    pixel as the whole image, on a stack with the channels last."""
    planes = [salt_and_pepper(noisy_8bit((40, 48), seed=s), 0.1, seed=s)[0] for s in range(3)]
    stack = np.stack([np.stack([p, p[::-1]], axis=-1) for p in planes])  # ZYXC
    mask = ImpulseMask(stack, "ZYXC")
    whole = np.asarray(mask)
    assert whole.shape == stack.shape and whole.any()
    for key in [(1, slice(5, 17), slice(0, 9)), (slice(None), 0, slice(3, 40, 2), 1),
                (2, slice(None), 47), (Ellipsis, 0), (0, slice(39, 40), slice(10, 10)),
                (slice(1, 2), slice(20, None), slice(None, 6), slice(None))]:
        np.testing.assert_array_equal(mask[key], whole[key], err_msg=str(key))
    view = exclude_pixels(stack, impulses=True, axes="ZYXC")
    window = view[1, 10:20, 30:40]
    np.testing.assert_array_equal(np.isnan(window), whole[1, 10:20, 30:40])
    assert view.counts() == {"total": int(whole.sum()), "impulses": int(whole.sum())}


def test_impulse_keys_are_integers_and_slices() -> None:
    mask = ImpulseMask(noisy_8bit((32, 32)), "YX")
    with pytest.raises(TypeError, match="integers and slices"):
        mask[np.array([1, 2])]
