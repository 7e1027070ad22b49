"""Pixel-shuffle sub-images: exact split and reassembly, stride-s neighbours."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.masking import merge_subimages, split_subimages


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_split_then_merge_gives_the_window_back(stride: int) -> None:
    x = torch.randn(2, 3, 6 * stride, 4 * stride)
    sub = split_subimages(x, stride)
    assert sub.shape == (2 * stride * stride, 3, 6, 4)
    assert torch.equal(merge_subimages(sub, stride), x)


def test_subimage_neighbours_are_stride_apart() -> None:
    # a window whose value encodes its (y, x) position
    h, w, s = 12, 9, 3
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack([ys, xs]).float()[None]  # (1, 2, Y, X): channel 0 = y, 1 = x
    sub = split_subimages(pos, s)
    for k in range(s * s):
        i, j = divmod(k, s)
        sy, sx = sub[k, 0], sub[k, 1]
        assert torch.equal(sy[:, 0], torch.arange(i, h, s).float())  # sub-image k = [i::s, j::s]
        assert torch.equal(sx[0], torch.arange(j, w, s).float())
        assert torch.all(sy[1:] - sy[:-1] == s) and torch.all(sx[:, 1:] - sx[:, :-1] == s)
        assert torch.all(sy[:, 1:] == sy[:, :-1]) and torch.all(sx[1:] == sx[:-1])


def test_window_not_a_multiple_of_the_stride_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple of the stride 3"):
        split_subimages(torch.zeros(1, 1, 10, 9), 3)
