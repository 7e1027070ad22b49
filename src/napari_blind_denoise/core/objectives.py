"""Training objectives: what the masked pixels are scored with.

``masked_l2`` (Noise2Void, Noise2Self): squared error of the network output.
``masked_likelihood`` (N-net): negative log-likelihood of the noisy value under the D-net's
signal plus the N-net's noise mixture. Both also report the masked-pixel squared error, the
quantity the kept model is selected on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from .device import autocast
from .losses import masked_mse, masked_nll


class Scores(NamedTuple):
    """``loss`` to minimise, masked-pixel ``mse`` (detached) and the ``signal`` estimate."""

    loss: torch.Tensor
    mse: torch.Tensor
    signal: torch.Tensor


Objective = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], Scores]


def masked_l2(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor,
              mask: torch.Tensor) -> Scores:
    """Masked-pixel mean squared error of ``model(x)`` against ``target`` (all ``B C Y X``)."""
    with autocast(x.device):
        pred = model(x)
    pred = pred.float()
    loss = masked_mse(pred, target, mask)
    return Scores(loss, loss.detach(), pred)


def masked_likelihood(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor,
                      mask: torch.Tensor) -> Scores:
    """Masked-pixel NLL of ``target`` under D-net signal + N-net noise (all ``B C Y X``).

    The N-net sees the signal detached: the D-net is pulled only towards the location that
    makes the observed values likely, never towards signal values where the N-net happens to
    predict a convenient noise level.
    """
    with autocast(x.device):
        signal = model.denoiser(x)
    signal = signal.float()
    # the N-net is pixel-wise: evaluate it at the masked pixels only (1/16 of them for n2s)
    where = mask.amax(dim=1) > 0
    sig, tgt, m = (_pick(t, where) for t in (signal, target, mask))
    mix = model.noise_net(sig.detach())
    bins = model.noise_net.bin_width.view(1, -1, 1, 1)
    loss = masked_nll(tgt, sig, mix.log_weights, mix.means, mix.stds, m, bins)
    return Scores(loss, masked_mse(signal, target, mask).detach(), signal)


def _pick(t: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Pixels of ``t`` ``(B, C, Y, X)`` where ``where`` ``(B, Y, X)`` is true, as
    ``(1, C, N, 1)``."""
    return t.transpose(0, 1)[:, where][None, :, :, None]


def objective_for(model: torch.nn.Module) -> Objective:
    """The objective matching the network: likelihood when it carries a noise model."""
    return masked_likelihood if hasattr(model, "noise_net") else masked_l2
