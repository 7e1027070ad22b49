"""Structured blind spots hide exactly the block they claim: the network's output at a
scored pixel has zero gradient with respect to every noisy input in that block."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from napari_blind_denoise.core.config import MaskConfig, format_blind_spot, parse_blind_spot
from napari_blind_denoise.core.masking import BlindSpotMasker, GridMasker


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 5, padding=2), nn.Tanh(), nn.Conv2d(4, 1, 5, padding=2))


def gradient_at(masker_out, batch: torch.Tensor, model: nn.Module, y: int, x: int):
    out = model(masker_out.input)
    (grad,) = torch.autograd.grad(out[0, 0, y, x], batch, retain_graph=True)
    return grad[0, 0]


@pytest.mark.parametrize("hide", [(0, 0), (0, 2), (1, 1), (2, 1)])
def test_grid_block_is_hidden(hide: tuple[int, int]) -> None:
    ey, ex = hide
    batch = torch.randn(1, 1, 40, 40, requires_grad=True)
    masker = GridMasker(4, hide)
    assert masker.periods == (max(4, 2 * ey + 2), max(4, 2 * ex + 2))
    masked = masker.mask_phase(batch, 5)
    centres = masked.mask[0, 0].nonzero()
    model = net()
    for y, x in centres[len(centres) // 2: len(centres) // 2 + 3].tolist():
        grad = gradient_at(masked, batch, model, y, x)
        block = grad[y - ey:y + ey + 1, x - ex:x + ex + 1]
        assert torch.count_nonzero(block) == 0, (y, x)
        # it does see the pixels just outside the block along a hidden axis
        assert grad.abs().sum() > 0
        if ex:
            assert grad[y, x - ex - 1] != 0 or grad[y, x + ex + 1] != 0


@pytest.mark.parametrize("hide", [(0, 0), (0, 2), (1, 1)])
def test_grid_block_is_j_invariant_to_every_centre(hide) -> None:
    """No input depends on the noise within the block of *any* scored pixel."""
    ey, ex = hide
    batch = torch.randn(1, 1, 36, 36, requires_grad=True)
    masked = GridMasker(4, hide).mask_phase(batch, 0)
    centres = masked.mask[0, 0] > 0
    blocks = torch.nn.functional.max_pool2d(centres[None, None].float(),
                                            (2 * ey + 1, 2 * ex + 1), 1, (ey, ex))[0, 0] > 0
    # every input value is the pixel itself or a mean with positive weights: the gradient of
    # their sum is non-zero exactly where some input depends on a noisy pixel
    (dependence,) = torch.autograd.grad(masked.input.sum(), batch)
    assert torch.all(dependence[0, 0][blocks] == 0), "an input depends on a hidden pixel"
    assert torch.all(dependence[0, 0][~blocks] > 0)


@pytest.mark.parametrize("hide", [(0, 1), (1, 2)])
def test_n2v_block_is_hidden(hide: tuple[int, int]) -> None:
    ey, ex = hide
    # one masked pixel per patch: with several, one block's replacements may be drawn from
    # next to another masked pixel (Noise2Void's usual, small leak between blind spots)
    model = net()
    for seed in range(6):
        batch = torch.randn(1, 1, 48, 48, requires_grad=True)
        masked = BlindSpotMasker(1e-4, 2, hide)(batch, torch.Generator().manual_seed(seed))
        ((y, x),) = masked.mask[0, 0].nonzero().tolist()
        grad = gradient_at(masked, batch, model, y, x)
        assert torch.count_nonzero(grad[y - ey:y + ey + 1, x - ex:x + ex + 1]) == 0
        assert grad.abs().sum() > 0


def test_n2v_block_replaces_from_outside() -> None:
    batch = torch.arange(24 * 24, dtype=torch.float32).reshape(1, 1, 24, 24)
    masked = BlindSpotMasker(0.001, 2, (0, 2))(batch, torch.Generator().manual_seed(3))
    (y, x), = masked.mask[0, 0].nonzero().tolist()
    changed = (masked.input != batch)[0, 0].nonzero().tolist()
    assert {(a, b) for a, b in changed} <= {(y, x + d) for d in range(-2, 3)}
    for dx in range(-2, 3):
        if 0 <= x + dx < 24:
            v = int(masked.input[0, 0, y, x + dx])
            sy, sx = divmod(v, 24)
            assert abs(sy - y) > 0 or abs(sx - x) > 2, "replaced from inside the block"


def test_blind_spot_parsing() -> None:
    assert parse_blind_spot("pixel") == (0, 0)
    assert parse_blind_spot("1x5") == (0, 2) and parse_blind_spot("3×3") == (1, 1)
    assert format_blind_spot((0, 2)) == "1x5" and format_blind_spot((0, 0)) == "pixel"
    for bad in ("2x3", "x", "auto", "0x1", "1x17"):
        with pytest.raises(ValueError, match="blind spot"):
            parse_blind_spot(bad)
    assert MaskConfig(blind_spot="auto").blind_spot == "auto"
    with pytest.raises(ValueError):
        MaskConfig(blind_spot="4x4")
