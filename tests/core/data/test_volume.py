"""Volume-wise access: (C, Z, Y, X) windows of any layout, 3-D training windows."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import InputError, validate_axes
from napari_blind_denoise.core.data.normalize import NormStats
from napari_blind_denoise.core.data.patches import Region
from napari_blind_denoise.core.data.volume import Volumes, VolumeSampler, fit_patch_depth


@pytest.mark.parametrize(("axes", "shape"), [("ZYX", (6, 8, 10)), ("TZYX", (2, 6, 8, 10)),
                                             ("ZCYX", (6, 2, 8, 10)), ("YXZ", (8, 10, 6)),
                                             ("TCZYX", (2, 3, 6, 8, 10))])
def test_read_write_round_trip(axes: str, shape) -> None:
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    vols = Volumes(validate_axes(axes, shape))
    out = np.zeros_like(data)
    assert vols.depth == 6
    for v in vols.volumes():
        block = vols.read(data, v, slice(1, 5), slice(2, 7), slice(0, 10))
        assert block.shape == (data.shape[axes.index("C")] if "C" in axes else 1, 4, 5, 10)
        vols.write(out, v, slice(1, 5), slice(2, 7), slice(0, 10), block)
    z, y = axes.index("Z"), axes.index("Y")
    idx = [slice(None)] * len(shape)
    idx[z], idx[y] = slice(1, 5), slice(2, 7)
    assert np.array_equal(out[tuple(idx)], data[tuple(idx)])
    assert out.sum() == data[tuple(idx)].sum()  # nothing outside the window written


def test_read_orders_z_y_x() -> None:
    data = np.zeros((8, 10, 6), np.float32)  # YXZ
    data[3, 4, 5] = 1.0
    block = Volumes(validate_axes("YXZ", data.shape)).read(data, (), slice(None), slice(None),
                                                           slice(None))
    assert block.shape == (1, 6, 8, 10) and block[0, 5, 3, 4] == 1.0


def test_exception_no_z() -> None:
    with pytest.raises(InputError, match="Z axis"):
        Volumes(validate_axes("TYX", (3, 8, 8)))


def test_fit_patch_depth() -> None:
    assert fit_patch_depth(40, 16, 4) == 16
    assert fit_patch_depth(14, 16, 4) == 12
    assert fit_patch_depth(3, 16, 4) == 3  # shallower than the divisor: the network pads


def test_sampler_windows() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(2, 12, 40, 40)).astype(np.float32)
    layout = validate_axes("TZYX", data.shape)
    stats = NormStats(low=(-1.0,), high=(1.0,), dtype="float32")
    sampler = VolumeSampler(data, layout, stats, 16, Region(0, 25, 0, 25), depth=8)
    batch = sampler.sample(5, rng)
    assert batch.shape == (5, 1, 8, 16, 16) and batch.dtype == np.float32
    plain = sampler.sample(3, np.random.default_rng(1), augment_=False)
    # an unaugmented window is a normalised block of the data
    flat = stats.normalize(data[None].reshape(1, -1)).reshape(data.shape)
    found = [any(np.array_equal(w[0], flat[t, z:z + 8, y:y + 16, x:x + 16])
                 for t in range(2) for z in range(5) for y in range(25) for x in range(25))
             for w in plain]
    assert all(found)


def test_exception_sampler_too_deep() -> None:
    data = np.zeros((4, 32, 32), np.float32)
    stats = NormStats(low=(0.0,), high=(1.0,), dtype="float32")
    with pytest.raises(ValueError, match="depth"):
        VolumeSampler(data, validate_axes("ZYX", data.shape), stats, 16, Region(0, 1, 0, 1),
                      depth=8)
