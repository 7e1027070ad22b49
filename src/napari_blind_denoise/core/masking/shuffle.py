"""Pixel-shuffle downsampling (AP-BSN, Lee et al. 2022): a window split into sub-images.

A window of ``s*h x s*w`` pixels becomes ``s**2`` sub-images of ``h x w``, sub-image
``(i, j)`` holding the pixels ``[i::s, j::s]``. Neighbours in a sub-image are ``s`` pixels
apart in the window, so noise correlated over fewer than ``s`` pixels is independent between
them, and a one-pixel blind spot on a sub-image hides all the correlated noise a pixel has.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def split_subimages(batch: torch.Tensor, stride: int) -> torch.Tensor:
    """``(B, C, s*h, s*w)`` -> ``(B*s*s, C, h, w)``; sub-image ``b*s*s + i*s + j`` of window
    ``b`` is ``batch[b, :, i::s, j::s]``."""
    b, c, height, width = batch.shape
    s = stride
    if height % s or width % s:
        raise ValueError(f"a {height}x{width} window is not a multiple of the stride {s}")
    sub = F.pixel_unshuffle(batch, s).reshape(b, c, s * s, height // s, width // s)
    return sub.transpose(1, 2).reshape(b * s * s, c, height // s, width // s).contiguous()


def merge_subimages(sub: torch.Tensor, stride: int) -> torch.Tensor:
    """Inverse of :func:`split_subimages`: ``(B*s*s, C, h, w)`` -> ``(B, C, s*h, s*w)``."""
    n, c, h, w = sub.shape
    s = stride
    b = n // (s * s)
    grouped = sub.reshape(b, s * s, c, h, w).transpose(1, 2).reshape(b, c * s * s, h, w)
    return F.pixel_shuffle(grouped, s)

