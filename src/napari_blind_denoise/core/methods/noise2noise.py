"""Noise2Noise: a UNet trained on pairs of independent noisy acquisitions of one field.

Lehtinen et al. 2018: when the noise of two acquisitions is independent and zero-mean, the
network that maps one to the other under an L2 loss learns the clean signal in expectation.
No pixel is hidden (no blind spot), so the network sees every pixel of its input, which is
why it beats blind-spot training when a second acquisition exists. The pair is two files or
layers of one shape, or the neighbouring frames of a time-lapse whose scene barely moves
(:func:`~napari_blind_denoise.core.data.pairs.neighbour_frames`).

Training is symmetric: each window goes in as A with B as its target, or the other way
round (a coin flip per window). Prediction is the plain network on the image to denoise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch

from ..config import DenoiseConfig, MaskConfig
from .base import Batch, BatchMaker, ExtraInput, Method


def swap_pairs(sources: Sequence[torch.Tensor], generator: torch.Generator) -> Batch:
    """``(A, B)`` windows ``(B, C, Y, X)`` -> a batch whose input is A and target B, or
    the other way round, per window; every pixel scored (no mask)."""
    a, b = sources
    flip = torch.rand(a.shape[0], generator=generator) < 0.5
    flip = flip.view(-1, *([1] * (a.ndim - 1)))
    return Batch(torch.where(flip, b, a), torch.where(flip, a, b), torch.ones_like(a))


class Noise2Noise(Method):
    """Noise2Noise (module docstring)."""

    id = "n2n"
    name = "Noise2Noise"
    description = ("Pairs of independent noisy acquisitions of the same field: one predicts "
                   "the other, no blind spot (Lehtinen et al. 2018). Needs a second image, "
                   "or a time-lapse whose scene barely moves between frames.")
    inputs = 2
    extra_inputs: ClassVar[tuple[ExtraInput, ...]] = (
        ExtraInput("pair", "Second acquisition",
                   "another noisy acquisition of the same field, of the image's shape, "
                   "with noise independent of the first"),
    )
    mask: ClassVar[MaskConfig] = MaskConfig()  # unused: nothing is masked
    # The yardstick scores a network on grid-masked inputs; Noise2Noise's network never saw
    # a masked input in training, so its score there says little about its output.
    compared_with_classical = False
    loss_label = "MSE (pair)"

    def batch_maker(self, config: DenoiseConfig) -> BatchMaker:
        """A against B and B against A (:func:`swap_pairs`)."""
        return swap_pairs

    def remedy(self, config: DenoiseConfig) -> str:
        """The pair's noise must be independent and the scene the same."""
        return ("Noise2Noise learns whatever the two acquisitions share: check that their "
                "noise is independent and that the scene did not move between them")
