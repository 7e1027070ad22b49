"""3-D masking: Noise2Void hides random voxels behind a 3-D neighbour, Noise2Self a 3-D grid
behind the mean of the 6 neighbours; with a block, the whole 1 x H x W block is hidden."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.masking import VolumeBlindSpotMasker, VolumeGridMasker
from napari_blind_denoise.core.nets import UNet

SHAPE = (2, 1, 8, 16, 20)


def labelled() -> torch.Tensor:
    """Every voxel's value is its flat index within its window (unique, recoverable)."""
    b, c, d, h, w = SHAPE
    return torch.arange(d * h * w, dtype=torch.float64).repeat(b * c).reshape(SHAPE)


def coords(flat: torch.Tensor) -> np.ndarray:
    _, _, d, h, w = SHAPE
    return np.stack(np.unravel_index(flat.long().numpy(), (d, h, w)), axis=-1)


@pytest.mark.parametrize("radius", [1, 2])
def test_n2v_hides_each_masked_voxel_behind_a_neighbour(radius: int) -> None:
    batch = labelled()
    masker = VolumeBlindSpotMasker(0.02, radius)
    out = masker(batch, torch.Generator().manual_seed(0))
    n = round(0.02 * 8 * 16 * 20)
    assert out.input.shape == out.mask.shape == batch.shape
    assert (out.mask.sum(dim=(2, 3, 4)) == n).all()  # n distinct voxels per window
    changed = out.input != batch
    assert torch.equal(changed, out.mask.bool())  # the masked voxels and nothing else
    for b in range(SHAPE[0]):
        where = out.mask[b, 0].bool()
        at = coords(batch[b, 0][where])
        src = coords(out.input[b, 0][where])
        step = np.abs(src - at).max(axis=1)
        assert (step >= 1).all() and (step <= radius).all()  # a neighbour, never itself
        assert (np.abs(src - at)[:, 0] > 0).any()  # some from other planes: a 3-D window


def test_n2v_block_hides_the_block_and_scores_the_centre() -> None:
    batch = labelled()
    hide = (1, 2)
    out = VolumeBlindSpotMasker(0.01, 2, hide)(batch, torch.Generator().manual_seed(1))
    for b in range(SHAPE[0]):
        centres = coords(batch[b, 0][out.mask[b, 0].bool()])
        changed = coords(batch[b, 0][out.input[b, 0] != batch[b, 0]])
        # every changed voxel lies in the 1x3x5 block of a masked voxel, in its plane
        near = [((c[None] - centres)[:, 0] == 0) & (np.abs((c[None] - centres)[:, 1]) <= 1)
                & (np.abs((c[None] - centres)[:, 2]) <= 2) for c in changed]
        assert all(x.any() for x in near)
        # each centre's replacement comes from outside its own block
        src = coords(out.input[b, 0][out.mask[b, 0].bool()])
        d = np.abs(src - centres)
        assert ((d[:, 0] > 0) | (d[:, 1] > 1) | (d[:, 2] > 2)).all()


def test_n2v_is_seeded() -> None:
    batch = torch.randn(SHAPE)
    m = VolumeBlindSpotMasker(0.05, 2)
    a = m(batch, torch.Generator().manual_seed(3))
    b = m(batch, torch.Generator().manual_seed(3))
    assert torch.equal(a.input, b.input) and torch.equal(a.mask, b.mask)


@pytest.mark.parametrize("hide", [(0, 0), (1, 2)])
def test_n2s_phases_cover_every_voxel_once(hide) -> None:
    masker = VolumeGridMasker(4, hide)
    batch = torch.randn(SHAPE)
    total = sum(masker.mask_phase(batch, p).mask for p in range(masker.n_phases))
    assert torch.equal(total, torch.ones_like(batch))
    assert masker.periods == ((4, 4, 4) if hide == (0, 0) else (4, 4, 6))


def test_n2s_fills_with_the_mean_of_the_six_neighbours() -> None:
    batch = torch.randn(SHAPE, dtype=torch.float64)
    m = VolumeGridMasker(4).mask_phase(batch, 1 * 16 + 2 * 4 + 1)  # phase (1, 2, 1)
    x = batch[0, 0]
    z, y, w = 5, 6, 9  # 5 % 4 == 1, 6 % 4 == 2, 9 % 4 == 1: a masked interior voxel
    assert m.mask[0, 0, z, y, w] == 1
    six = (x[z - 1, y, w] + x[z + 1, y, w] + x[z, y - 1, w] + x[z, y + 1, w]
           + x[z, y, w - 1] + x[z, y, w + 1]) / 6
    assert torch.isclose(m.input[0, 0, z, y, w], six)
    assert torch.equal(m.input[m.mask == 0], batch[m.mask == 0])


@pytest.mark.parametrize("hide", [(0, 0), (1, 1)])
def test_n2s_masked_input_ignores_the_hidden_voxels(hide) -> None:
    """J-invariance: what the network sees does not depend on any hidden voxel."""
    masker = VolumeGridMasker(4, hide)
    batch = torch.randn(SHAPE, dtype=torch.float64)
    for phase in (0, 21, masker.n_phases - 1):
        m = masker.mask_phase(batch, phase)
        hidden = m.input != batch  # the centres and their blocks (filled values differ)
        if hide != (0, 0):
            assert hidden.sum() > m.mask.sum()
        moved = batch + 5.0 * torch.randn(SHAPE, dtype=torch.float64) * hidden
        assert torch.allclose(masker.mask_phase(moved, phase).input, m.input)


def test_n2s_phase_inference_is_j_invariant() -> None:
    torch.manual_seed(0)
    net = UNet(ModelConfig(dims=3, depth=1, base_channels=4)).eval()
    masker = VolumeGridMasker(2)
    x = torch.randn(1, 1, 4, 8, 8)
    y = x.clone()
    y[0, 0, 2, 3, 5] += 3.0
    with torch.no_grad():
        a, b = masker.predict_hidden(net, x), masker.predict_hidden(net, y)
    assert a[0, 0, 2, 3, 5] == pytest.approx(float(b[0, 0, 2, 3, 5]), abs=1e-6)
    assert (a - b).abs().max() > 1e-3  # other voxels do see it
