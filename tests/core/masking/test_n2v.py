"""Noise2Void blind-spot masking: counts, sources, borders, determinism."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.masking import BlindSpotMasker, Masked


def unique_batch(b: int = 2, c: int = 3, h: int = 16, w: int = 20) -> torch.Tensor:
    """A batch whose every value is distinct, so a replaced value names its source pixel."""
    return torch.arange(b * c * h * w, dtype=torch.float32).reshape(b, c, h, w)


def mask_once(batch: torch.Tensor, fraction: float, radius: int = 2, seed: int = 0) -> Masked:
    return BlindSpotMasker(fraction, radius)(batch, torch.Generator().manual_seed(seed))


def sources(batch: torch.Tensor, masked: Masked) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """``[(masked position (b, c, y, x), source position (b, c, y, x)), ...]``."""
    pairs = []
    for pos in masked.mask.nonzero().tolist():
        value = masked.input[tuple(pos)]
        src = (batch == value).nonzero()
        assert len(src) == 1, "replacement value is not a pixel of the batch"
        pairs.append((tuple(pos), tuple(src[0].tolist())))
    return pairs


def test_smoke() -> None:
    batch = unique_batch()
    out = mask_once(batch, 0.05)
    assert out.input.shape == batch.shape
    assert out.mask.shape == batch.shape
    assert out.input.dtype == batch.dtype
    assert out.mask.dtype == batch.dtype
    assert set(out.mask.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(("fraction", "h", "w"), [(0.002, 64, 64), (0.03, 32, 48),
                                                  (0.5, 8, 8), (1e-4, 16, 16)])
def test_cardinality(fraction: float, h: int, w: int) -> None:
    batch = torch.randn(3, 2, h, w)
    out = mask_once(batch, fraction)
    expected = max(1, round(fraction * h * w))
    per_plane = out.mask.sum(dim=(-2, -1))
    assert torch.all(per_plane == expected), per_plane


def test_unmasked_pixels_unchanged() -> None:
    batch = torch.randn(2, 3, 24, 24)
    out = mask_once(batch, 0.1)
    keep = out.mask == 0
    assert torch.equal(out.input[keep], batch[keep])
    assert keep.sum() == batch.numel() - 2 * 3 * round(0.1 * 24 * 24)


def test_replacement_is_a_neighbour_of_the_same_plane() -> None:
    batch = unique_batch()
    r = 2
    out = mask_once(batch, 0.1, radius=r)
    pairs = sources(batch, out)
    assert len(pairs) == out.mask.sum()
    for (b, c, y, x), (sb, sc, sy, sx) in pairs:
        assert (sb, sc) == (b, c), "replacement taken from another sample or channel"
        assert abs(sy - y) <= r and abs(sx - x) <= r, "source outside the radius window"


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_source_never_the_pixel_itself_inside(radius: int) -> None:
    """Away from the border (no mirroring) the source is never the masked pixel."""
    batch = unique_batch(1, 1, 40, 40)
    for seed in range(5):
        out = mask_once(batch, 0.5, radius=radius, seed=seed)
        for (_, _, y, x), (_, _, sy, sx) in sources(batch, out):
            inside = radius <= y < 40 - radius and radius <= x < 40 - radius
            if inside:
                assert (sy, sx) != (y, x)


def test_source_never_the_pixel_itself_radius_1() -> None:
    """With radius 1 mirroring maps -1 to 1, never back onto the pixel, even at the border."""
    batch = unique_batch(1, 2, 8, 8)
    for seed in range(10):
        out = mask_once(batch, 0.5, radius=1, seed=seed)
        for pos, src in sources(batch, out):
            assert pos != src


@pytest.mark.parametrize("radius", [2, 3])
def test_source_never_the_pixel_itself_at_border(radius: int) -> None:
    batch = unique_batch(1, 2, 8, 8)
    for seed in range(10):
        out = mask_once(batch, 0.5, radius=radius, seed=seed)
        for pos, src in sources(batch, out):
            assert pos != src, f"pixel {pos} was replaced by its own value"


def test_border_pixels_are_masked_and_sourced_inside() -> None:
    h, w, r = 10, 12, 3
    batch = unique_batch(1, 1, h, w)
    corners = {(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)}
    seen: set[tuple[int, int]] = set()
    for seed in range(20):
        out = mask_once(batch, 0.5, radius=r, seed=seed)
        for (_, _, y, x), (_, _, sy, sx) in sources(batch, out):
            seen.add((y, x))
            assert 0 <= sy < h and 0 <= sx < w
            assert abs(sy - y) <= r and abs(sx - x) <= r
    assert corners <= seen, "corners were never masked with fraction 0.5 over 20 draws"


def test_mask_differs_between_channels_and_samples() -> None:
    batch = torch.randn(2, 3, 32, 32)
    m = mask_once(batch, 0.02).mask
    planes = m.reshape(6, -1)
    for i in range(6):
        for j in range(i + 1, 6):
            assert not torch.equal(planes[i], planes[j]), f"planes {i} and {j} share a mask"


def test_deterministic_given_seed() -> None:
    batch = torch.randn(2, 2, 32, 32)
    a = mask_once(batch, 0.05, seed=7)
    b = mask_once(batch, 0.05, seed=7)
    c = mask_once(batch, 0.05, seed=8)
    assert torch.equal(a.input, b.input) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)


def test_batch_not_modified() -> None:
    batch = torch.randn(2, 1, 16, 16)
    before = batch.clone()
    mask_once(batch, 0.3)
    assert torch.equal(batch, before)
