"""Loss functions (pure)."""

from __future__ import annotations

import math

import torch

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over masked pixels only (``mask`` is 1 where scored)."""
    return ((pred - target) ** 2 * mask).sum() / mask.sum().clamp_min(1.0)


def _log_bin_mass(z_lo: torch.Tensor, z_hi: torch.Tensor) -> torch.Tensor:
    """``log(Phi(z_hi) - Phi(z_lo))``, computed in the tail nearer to zero for precision."""
    flip = (z_lo + z_hi) > 0
    lo = torch.where(flip, -z_hi, z_lo)
    hi = torch.where(flip, -z_lo, z_hi)
    return torch.log((torch.special.ndtr(hi) - torch.special.ndtr(lo)).clamp_min(1e-30))


def mixture_log_prob(residual: torch.Tensor, log_weights: torch.Tensor, means: torch.Tensor,
                     stds: torch.Tensor, bin_width: torch.Tensor | None = None) -> torch.Tensor:
    """Log-density of ``residual`` ``(B, C, Y, X)`` under a per-pixel Gaussian mixture.

    ``log_weights``, ``means`` and ``stds`` are ``(B, C, K, Y, X)`` (log-weights normalised
    over ``K``). Uses log-sum-exp over the components, so it stays finite however far a
    residual lies from every component (given positive ``stds``).

    ``bin_width`` (broadcastable to ``residual``, e.g. ``(1, C, 1, 1)``): the quantisation
    step of the data. Where it is non-negligible against a component's std, that component
    contributes the probability mass of the bin ``residual +- bin_width / 2`` divided by
    the width (a discretised likelihood, as in PixelCNN++). On quantised data (integers,
    photon counts) a plain density rewards components collapsing onto the lattice without
    bound; the bin mass cannot exceed 1. Zero width gives the plain density.
    """
    r = residual.unsqueeze(2)
    z = (r - means) / stds
    log_comp = -0.5 * z * z - stds.log() - _HALF_LOG_2PI
    if bin_width is not None:
        h = bin_width.unsqueeze(2)
        half = 0.5 * h / stds
        log_mass = _log_bin_mass(z - half, z + half)
        # far tails underflow in float32: keep the density there (finite, with a gradient)
        use_mass = (half > 5e-3) & (log_mass > -60.0)
        log_comp = torch.where(use_mass, log_mass - h.clamp_min(1e-30).log(), log_comp)
    return torch.logsumexp(log_weights + log_comp, dim=2)


def masked_nll(target: torch.Tensor, signal: torch.Tensor, log_weights: torch.Tensor,
               means: torch.Tensor, stds: torch.Tensor, mask: torch.Tensor,
               bin_width: torch.Tensor | None = None) -> torch.Tensor:
    """Mean negative log-likelihood of ``target`` given ``signal`` + mixture noise,
    over masked pixels only (the N-net loss of Ollion et al. 2021; ``bin_width`` as in
    :func:`mixture_log_prob`)."""
    log_p = mixture_log_prob(target - signal, log_weights, means, stds, bin_width)
    return -(log_p * mask).sum() / mask.sum().clamp_min(1.0)
