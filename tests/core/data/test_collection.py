"""Several images as one lazy training stack (``CropStack``)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import InputError, check_image
from napari_blind_denoise.core.data.collection import CropStack
from napari_blind_denoise.core.data.normalize import NormStats
from napari_blind_denoise.core.data.patches import PatchSampler, Region


def _stack(*arrays_axes):
    arrays = [a for a, _ in arrays_axes]
    return CropStack(arrays, [check_image(a, ax) for a, ax in arrays_axes])


def test_cardinality_and_reads() -> None:
    a = np.arange(40 * 50, dtype=np.float32).reshape(40, 50)
    b = np.arange(3 * 32 * 32, dtype=np.uint16).reshape(3, 32, 32) + 10_000
    stack = _stack((a, "YX"), (b, "ZYX"))
    # a: 2 crops along Y (0, 8) x 2 along X (0, 18); b: 3 planes of one crop each
    assert stack.axes == "SYX" and stack.shape == (7, 32, 32)
    assert stack.dtype == np.float32
    np.testing.assert_array_equal(stack[0, :, :], a[:32, :32])
    np.testing.assert_array_equal(stack[3, 2:5, 1:9], a[8 + 2:8 + 5, 18 + 1:18 + 9])
    np.testing.assert_array_equal(stack[6, :, :], b[2])
    covered = np.zeros_like(a, bool)
    for s in range(4):  # every pixel of a lies in one of its crops
        _, _, y, x = stack.crops[s]
        covered[y:y + 32, x:x + 32] = True
    assert covered.all()


def test_channels_follow_each_file_layout() -> None:
    cyx = np.random.default_rng(0).random((2, 32, 40)).astype(np.float32)
    yxc = np.moveaxis(cyx, 0, -1).copy()
    stack = _stack((cyx, "CYX"), (yxc, "YXC"))
    assert stack.axes == "SCYX" and stack.shape[1] == 2
    lay = check_image(stack, stack.axes)
    for s in range(len(stack)):
        _, _, _, x = stack.crops[s]
        np.testing.assert_array_equal(lay.read(stack, (s,), slice(0, 8), slice(0, 8)),
                                      cyx[:, :8, x:x + 8])


def test_sampler_draws_from_every_file() -> None:
    files = [np.full((32, 32), float(k), np.float32) for k in range(3)]
    stack = _stack(*((f, "YX") for f in files))
    lay = check_image(stack, stack.axes)
    sampler = PatchSampler(stack, lay, NormStats(low=(0.0,), high=(1.0,), dtype="float32"), 16,
                           Region(0, 17, 0, 17))
    seen = {float(p[0, 0, 0]) for p in sampler.sample(30, np.random.default_rng(1))}
    assert seen == {0.0, 1.0, 2.0}


def test_exception() -> None:
    with pytest.raises(InputError, match="different channel counts"):
        _stack((np.zeros((2, 32, 32)), "CYX"), (np.zeros((32, 32)), "YX"))
    with pytest.raises(InputError, match="no images"):
        CropStack([], [])
    stack = _stack((np.zeros((32, 32)), "YX"))
    with pytest.raises(TypeError):
        stack[0, 3, :]
