"""Training windows: held-out validation band, sampling, augmentation."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import NormStats, validate_axes
from napari_blind_denoise.core.data.patches import (
    AXIS_PRESERVING,
    DIHEDRAL,
    PatchSampler,
    Region,
    augment,
    fit_patch_size,
    split_regions,
)
from napari_blind_denoise.core.errors import InputError


def rows_used(region: Region, size: int) -> set[int]:
    return set(range(region.y0, region.y1 - 1 + size))


def cols_used(region: Region, size: int) -> set[int]:
    return set(range(region.x0, region.x1 - 1 + size))


def test_split_tall_image_is_disjoint() -> None:
    train, val, disjoint = split_regions(validate_axes("YX", (256, 100)), 64)
    assert disjoint
    assert not rows_used(train, 64) & rows_used(val, 64)
    assert max(rows_used(val, 64)) == 255


def test_split_wide_image_is_disjoint() -> None:
    train, val, disjoint = split_regions(validate_axes("YX", (100, 256)), 64)
    assert disjoint
    assert not cols_used(train, 64) & cols_used(val, 64)
    assert max(cols_used(val, 64)) == 255


def test_split_small_image_shares_region() -> None:
    train, val, disjoint = split_regions(validate_axes("YX", (100, 120)), 64)
    assert not disjoint
    assert train == val == Region(0, 37, 0, 57)


def test_augment_is_the_dihedral_group() -> None:
    p = np.arange(9.0).reshape(1, 3, 3)
    outs = {augment(p, k).tobytes() for k in range(8)}
    assert len(outs) == 8
    assert np.array_equal(augment(p, 0), p)


def test_sampler_shapes_and_normalisation(rng: np.random.Generator) -> None:
    data = rng.normal(size=(3, 40, 50)).astype(np.float32) * 10 + 100
    layout = validate_axes("ZYX", data.shape)
    stats = NormStats(low=(100.0,), high=(110.0,))
    sampler = PatchSampler(data, layout, stats, 16, Region(0, 25, 0, 35))
    batch = sampler.sample(6, np.random.default_rng(0), augment_=False)
    assert batch.shape == (6, 1, 16, 16) and batch.dtype == np.float32
    # each window is a normalised crop of some plane
    for patch in batch[:, 0]:
        raw = patch * 10 + 100
        found = any(np.allclose(raw, data[z, y:y + 16, x:x + 16], atol=1e-3)
                    for z in range(3) for y in range(25) for x in range(35))
        assert found


def test_sampler_uses_every_plane(rng: np.random.Generator) -> None:
    data = np.stack([np.full((20, 20), z, np.float32) for z in range(4)])
    layout = validate_axes("ZYX", data.shape)
    sampler = PatchSampler(data, layout, NormStats(low=(0.0,), high=(1.0,)), 8,
                           Region(0, 13, 0, 13))
    batch = sampler.sample(64, np.random.default_rng(0))
    assert set(np.unique(batch[:, 0, 0, 0])) == {0.0, 1.0, 2.0, 3.0}


def test_sampler_is_seeded(rng: np.random.Generator) -> None:
    data = rng.normal(size=(40, 40)).astype(np.float32)
    layout = validate_axes("YX", data.shape)
    sampler = PatchSampler(data, layout, NormStats(low=(0.0,), high=(1.0,)), 8,
                           Region(0, 33, 0, 33))
    a = sampler.sample(4, np.random.default_rng(1))
    b = sampler.sample(4, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(AssertionError):
        np.testing.assert_array_equal(a, sampler.sample(4, np.random.default_rng(2)))


def test_axis_preserving_transforms_never_swap_y_and_x() -> None:
    p = np.arange(12.0).reshape(1, 3, 4)
    assert all(augment(p, k).shape == p.shape for k in AXIS_PRESERVING)
    assert all(augment(p, k).shape == (1, 4, 3) for k in set(DIHEDRAL) - set(AXIS_PRESERVING))


@pytest.mark.parametrize(("transforms", "swapped"), [(AXIS_PRESERVING, False), (DIHEDRAL, True)])
def test_sampler_draws_only_the_given_transforms(transforms, swapped: bool) -> None:
    # values vary along Y only: a window keeps constant rows unless Y and X were swapped
    data = np.repeat(np.arange(30.0, dtype=np.float32)[:, None], 30, axis=1)
    layout = validate_axes("YX", data.shape)
    sampler = PatchSampler(data, layout, NormStats(low=(0.0,), high=(1.0,)), 8,
                           Region(0, 23, 0, 23), transforms=transforms)
    batch = sampler.sample(64, np.random.default_rng(0))[:, 0]
    rows_constant = np.all(batch == batch[:, :, :1], axis=(1, 2))
    assert (not rows_constant.all()) == swapped
    flipped_y = batch[:, 0, 0] > batch[:, -1, 0]
    assert flipped_y.any() and not flipped_y.all()  # the Y flips are still drawn


def test_sampler_refuses_unknown_transforms() -> None:
    data = np.zeros((20, 20), np.float32)
    with pytest.raises(ValueError, match="subset"):
        PatchSampler(data, validate_axes("YX", data.shape), NormStats(low=(0.0,), high=(1.0,)),
                     8, Region(0, 13, 0, 13), transforms=(8,))


@pytest.mark.parametrize(("shape", "size", "divisor", "expected"), [
    ((512, 512), 64, 4, 64),      # fits: unchanged
    ((30, 61, 57), 64, 4, 56),    # narrow planes: largest multiple of 4 that fits
    ((61, 57), 64, 8, 56),        # deeper net: multiple of 8
    ((40, 33), 64, 4, 32),        # down to the automatic minimum
    ((20, 20), 16, 4, 16),        # a patch set small by the user still fits
])
def test_fit_patch_size(shape, size, divisor, expected) -> None:
    layout = validate_axes("ZYX" if len(shape) == 3 else "YX", shape)
    assert fit_patch_size(layout, size, divisor) == expected


def test_fit_patch_size_refuses_tiny_planes() -> None:
    with pytest.raises(InputError, match="20x20 pixels, smaller than the 32x32"):
        fit_patch_size(validate_axes("YX", (20, 20)), 64, 4)
    with pytest.raises(InputError, match="smaller than the 16x16"):
        fit_patch_size(validate_axes("YX", (12, 40)), 16, 4)
