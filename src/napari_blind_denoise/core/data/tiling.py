"""Tile grids and smooth blending weights (pure functions)."""

from __future__ import annotations

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Origins of tiles of size ``tile`` covering ``[0, length)`` with at least ``overlap``."""
    if tile >= length:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def blend_window(tile: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D weights: ``sin^2`` ramps over ``overlap`` pixels at inner edges, 1 elsewhere.

    Two neighbouring tiles overlapping by exactly ``overlap`` pixels cross-fade with weights
    summing to one; tile borders (where the network sees padding) weigh almost nothing.
    Image borders (``at_start``/``at_end``) keep full weight.
    """
    w = np.ones(tile, np.float32)
    if overlap > 0:
        ramp = np.sin(0.5 * np.pi * (np.arange(overlap) + 0.5) / overlap) ** 2
        if not at_start:
            w[:overlap] = ramp
        if not at_end:
            w[tile - overlap:] = ramp[::-1]
    return w


def tile_weights(shape: tuple[int, int], origin: tuple[int, int], image: tuple[int, int],
                 overlap: int) -> np.ndarray:
    """2-D blending weights ``(Y, X)`` for a tile at ``origin`` in an image of size ``image``."""
    (th, tw), (y, x), (h, w) = shape, origin, image
    wy = blend_window(th, min(overlap, th // 2), y == 0, y + th >= h)
    wx = blend_window(tw, min(overlap, tw // 2), x == 0, x + tw >= w)
    return wy[:, None] * wx[None, :]
