"""Refit the N-net to the residuals of the D-net as it predicts (evaluation mode).

The N-net learns the masked residuals ``Y - f_J(Y)`` of the D-net **in training mode**. With
batch normalisation (the 3-D networks' default, :data:`~..dims.VOLUME_BATCH_NORM`) a training
batch of 2 windows is normalised by its own statistics, and the D-net's error at the masked
voxels is larger than in evaluation mode, where the running statistics are used: after 150
steps on the test volume of ``tests/core/methods/test_nnet3d.py`` the masked residual std was
0.129 in training mode against 0.105 in evaluation mode (true noise 0.075, normalised units),
and the learned noise std followed the training-mode residual. Prediction, the noise outputs
and the calibration all use evaluation mode, so after training the N-net is fitted again, the
D-net frozen, to the evaluation-mode residuals of grid-masked crops
(:func:`~.calibration.calibration_crops`, the phases :func:`~.calibration.calibration_phases`
draws). Models without batch normalisation are left as they are (the two modes agree).
"""

from __future__ import annotations

import threading

import torch

from ..losses import masked_nll
from ..masking.n2s import GridMasker
from ..nets.noise_net import NoiseNet

STEPS = 200  # full-batch Adam steps on the collected (signal, residual) pairs
LR = 0.01
MAX_PIXELS = 32_768  # pairs fitted on at most (a random subset of the hidden pixels)


class Stopped(Exception):
    """The stop event was set during the refit."""


def _pairs(denoiser: torch.nn.Module, crops: torch.Tensor, masker: GridMasker,
           phases: list[int], stop: threading.Event | None
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(signal, target)`` ``(1, C, N, 1)`` at the hidden pixels of every phase, the D-net
    in evaluation mode predicting them while hidden (one crop and phase at a time)."""
    dev = next(denoiser.parameters()).device
    signal, target = [], []
    for phase in phases:
        m = masker.mask_phase(crops, phase)
        for i in range(crops.shape[0]):
            if stop is not None and stop.is_set():
                raise Stopped
            pred = denoiser(m.input[i:i + 1].to(dev)).float().cpu()
            where = m.mask[i].amax(dim=0) > 0
            signal.append(pred[0][:, where])
            target.append(crops[i][:, where])
    return (torch.cat(signal, dim=1)[None, :, :, None],
            torch.cat(target, dim=1)[None, :, :, None])


def refit_noise_net(denoiser: torch.nn.Module, noise_net: NoiseNet, crops: torch.Tensor,
                    masker: GridMasker, phases: list[int], *,
                    stop: threading.Event | None = None) -> dict[str, float]:
    """Fit ``noise_net`` (in place) to the evaluation-mode masked residuals of ``denoiser``.

    Parameters
    ----------
    denoiser, noise_net
        The trained D-net (frozen, evaluated in ``eval`` mode) and N-net.
    crops
        Normalised crops ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)``.
    masker, phases
        The D-net's grid masker and the phases to hide.
    stop
        Checked before every crop and phase and every few steps.

    Returns
    -------
    dict
        ``pixels`` fitted on (at most ``MAX_PIXELS``), ``nll_before`` and ``nll_after``
        (their mean negative log-likelihood, normalised units).

    Raises
    ------
    Stopped
        ``stop`` was set (the N-net is then left as it was).
    """
    was = denoiser.training, noise_net.training
    denoiser.eval()
    try:
        with torch.no_grad():
            signal, target = _pairs(denoiser, crops, masker, phases, stop)
    finally:
        denoiser.train(was[0])
    if signal.shape[2] > MAX_PIXELS:
        keep = torch.randperm(signal.shape[2], generator=torch.Generator().manual_seed(0))
        signal, target = signal[:, :, keep[:MAX_PIXELS]], target[:, :, keep[:MAX_PIXELS]]
    dev = noise_net.bin_width.device
    signal, target = signal.to(dev), target.to(dev)
    ones = torch.ones_like(target)
    bins = noise_net.bin_width.view(1, -1, 1, 1)
    saved = {k: v.clone() for k, v in noise_net.state_dict().items()}

    def nll() -> torch.Tensor:
        mix = noise_net(signal)
        return masked_nll(target, signal, mix.log_weights, mix.means, mix.stds, ones, bins)

    noise_net.train()
    opt = torch.optim.Adam(noise_net.parameters(), lr=LR)
    with torch.no_grad():
        before = float(nll())
    for step in range(STEPS):
        if stop is not None and step % 20 == 0 and stop.is_set():
            noise_net.load_state_dict(saved)
            noise_net.train(was[1])
            raise Stopped
        opt.zero_grad()
        loss = nll()
        loss.backward()
        opt.step()
    noise_net.train(was[1])
    with torch.no_grad():
        after = float(nll())
    return {"pixels": int(signal.shape[2]), "nll_before": before, "nll_after": after}
