"""Noise2Self grid masking: grid phases, neighbour means, density, J-invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_blind_denoise.core.masking import GridMasker
from napari_blind_denoise.core.masking.n2s import grid_mask, neighbour_mean


def reference_neighbour_mean(x: np.ndarray) -> np.ndarray:
    """Mean of the 4 direct neighbours with mirrored (edge not repeated) borders, (..., Y, X)."""
    pad = [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)]
    p = np.pad(x, pad, mode="reflect")
    return (p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]) / 4


def test_smoke() -> None:
    batch = torch.randn(2, 3, 16, 16)
    out = GridMasker(4)(batch, torch.Generator().manual_seed(0))
    assert out.input.shape == batch.shape
    assert out.mask.shape == batch.shape
    assert out.mask.dtype == batch.dtype


@pytest.mark.parametrize("period", [2, 3, 4])
def test_mask_is_one_grid_phase(period: int) -> None:
    masker = GridMasker(period)
    gen = torch.Generator().manual_seed(1)
    batch = torch.randn(2, 2, 13, 17)
    for _ in range(10):
        m = masker(batch, gen).mask
        ys, xs = m[0, 0].nonzero().T
        py, px = int(ys[0]) % period, int(xs[0]) % period
        expected = grid_mask((13, 17), period, (py, px)).float()
        for b in range(2):
            for c in range(2):
                assert torch.equal(m[b, c], expected), "not one grid phase for every plane"


def test_grid_mask_values() -> None:
    g = grid_mask((5, 6), 2, (1, 0))
    expected = np.zeros((5, 6), bool)
    expected[1::2, 0::2] = True
    np.testing.assert_array_equal(g.numpy(), expected)


@pytest.mark.parametrize("period", [2, 4])
def test_replacement_is_mean_of_four_neighbours(period: int) -> None:
    masker = GridMasker(period)
    gen = torch.Generator().manual_seed(period)
    batch = torch.randn(2, 3, 12, 16, dtype=torch.float64, generator=gen)
    ref = reference_neighbour_mean(batch.numpy())
    for phase in range(masker.n_phases):
        out = masker.mask_phase(batch, phase)
        m = out.mask.bool().numpy()
        np.testing.assert_allclose(out.input.numpy()[m], ref[m], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(out.input.numpy()[~m], batch.numpy()[~m])


def test_neighbour_mean_reflects_at_corners() -> None:
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    nm = neighbour_mean(x)[0, 0]
    # corner (0, 0): up -> row 1, left -> column 1 (mirror, edge not repeated)
    assert nm[0, 0] == pytest.approx((x[0, 0, 1, 0] * 2 + x[0, 0, 0, 1] * 2) / 4)
    # corner (2, 3)
    assert nm[2, 3] == pytest.approx((x[0, 0, 1, 3] * 2 + x[0, 0, 2, 2] * 2) / 4)


@pytest.mark.parametrize("period", [2, 3, 4, 5])
def test_density(period: int) -> None:
    masker = GridMasker(period)
    size = 6 * period
    batch = torch.zeros(1, 1, size, size)
    total = torch.zeros(size, size)
    for phase in range(masker.n_phases):
        m = masker.mask_phase(batch, phase).mask[0, 0]
        assert float(m.mean()) == pytest.approx(1 / period**2)
        total += m
    # the phases partition the image: every pixel is masked exactly once
    assert torch.equal(total, torch.ones(size, size))


@pytest.mark.parametrize("period", [2, 4])
def test_j_invariance(period: int) -> None:
    """The net input must not depend on the noisy values of the masked pixels."""
    masker = GridMasker(period)
    batch = torch.randn(2, 2, 15, 18)
    for phase in range(masker.n_phases):
        out = masker.mask_phase(batch, phase)
        m = out.mask.bool()
        changed = batch.clone()
        changed[m] += 100 * torch.randn(int(m.sum()))
        out2 = masker.mask_phase(changed, phase)
        assert torch.equal(out2.mask, out.mask)
        assert torch.equal(out2.input[m], out.input[m]), "masked pixels see their own value"
        assert torch.equal(out2.input, out.input)


def test_random_phase_varies_and_is_seeded() -> None:
    masker = GridMasker(4)
    batch = torch.randn(1, 1, 16, 16)

    def phases(seed: int) -> list[tuple[int, int]]:
        gen = torch.Generator().manual_seed(seed)
        out = []
        for _ in range(30):
            ys, xs = masker(batch, gen).mask[0, 0].nonzero().T
            out.append((int(ys[0]), int(xs[0])))
        return out

    a = phases(0)
    assert len(set(a)) >= 5, "the grid phase does not vary across calls"
    assert all(0 <= y < 4 and 0 <= x < 4 for y, x in a)
    assert phases(0) == a
    assert phases(1) != a


def test_n_phases() -> None:
    assert GridMasker(3).n_phases == 9
