"""Tile grids and blending weights."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from napari_blind_denoise.core.data.tiling import blend_window, tile_starts, tile_weights


@pytest.mark.parametrize("length", [16, 63, 64, 65, 100, 200, 230, 517])
@pytest.mark.parametrize(("tile", "overlap"), [(64, 16), (32, 0), (48, 8), (16, 7)])
def test_tile_starts_cover(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert starts == sorted(set(starts))
    covered = np.zeros(length, bool)
    for s in starts:
        assert s >= 0 and s + min(tile, length) <= length
        covered[s:s + tile] = True
    assert covered.all()
    if tile < length:
        assert starts[-1] == length - tile
        assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))


def test_tile_starts_single_tile() -> None:
    assert tile_starts(50, 64, 16) == [0]
    assert tile_starts(64, 64, 16) == [0]


def test_tile_starts_values() -> None:
    assert tile_starts(200, 64, 16) == [0, 48, 96, 136]


@pytest.mark.parametrize(("tile", "overlap"), [(64, 16), (32, 8), (20, 1), (16, 8)])
def test_blend_window_cross_fade_sums_to_one(tile: int, overlap: int) -> None:
    first = blend_window(tile, overlap, at_start=True, at_end=False)
    second = blend_window(tile, overlap, at_start=False, at_end=True)
    total = np.zeros(2 * tile - overlap)
    total[:tile] += first
    total[tile - overlap:] += second
    np.testing.assert_allclose(total, 1.0, atol=1e-6)
    assert np.all(first > 0) and np.all(second > 0)


def test_blend_window_shape() -> None:
    w = blend_window(32, 8, at_start=False, at_end=False)
    assert w.shape == (32,) and w.dtype == np.float32
    np.testing.assert_array_equal(w[8:24], 1.0)
    assert np.all(np.diff(w[:8]) > 0) and np.all(np.diff(w[24:]) < 0)
    assert w[0] < 0.05 and w[-1] < 0.05
    np.testing.assert_allclose(w[:8], w[::-1][:8])


def test_blend_window_image_borders_keep_full_weight() -> None:
    np.testing.assert_array_equal(blend_window(32, 8, True, True), 1.0)
    np.testing.assert_array_equal(blend_window(32, 0, False, False), 1.0)


def test_tile_weights_cross_fade_2d() -> None:
    """Four tiles overlapping by exactly ``overlap`` on a 2x2 grid sum to one everywhere."""
    t, o = 24, 8
    size = 2 * t - o
    total = np.zeros((size, size))
    for y in (0, t - o):
        for x in (0, t - o):
            w = tile_weights((t, t), (y, x), (size, size), o)
            assert w.shape == (t, t)
            total[y:y + t, x:x + t] += w
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_tile_weights_whole_image_tile() -> None:
    np.testing.assert_array_equal(tile_weights((40, 50), (0, 0), (40, 50), 16), 1.0)
