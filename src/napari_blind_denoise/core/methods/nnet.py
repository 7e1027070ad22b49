"""N-net blind denoising (Ollion et al. 2021): everything N-net in one place.

A grid-masked D-net (the UNet) is trained jointly with the N-net, a pixel-wise noise model
``p(Y - X | X)`` (Gaussian or Gaussian mixture), by the likelihood of the masked noisy
pixels. This module decides the network (D-net + N-net), the objective, the N-net's faster
learning rate, the data's quantisation step, the live noise curve, the post-training
calibration (:mod:`~napari_blind_denoise.core.noise.calibration`) and the noise outputs:
a per-pixel noise std map, the residual, the noise curve and a Poisson-Gaussian summary.

With a 3-D network (``config.model.dims == 3``, as for ``n2v`` and ``n2s``) the D-net is the
3-D UNet trained on grid-masked ``(B, C, Z, Y, X)`` windows; the N-net, being pixel-wise,
is the same and reads the voxels of the volume. The 3-D D-net has batch normalisation, so
after training the N-net is fitted again to its evaluation-mode residuals
(:mod:`~napari_blind_denoise.core.noise.refit`); the calibration runs on volume crops, and
the noise outputs, which read the denoised image pixel by pixel, are the same.
"""

from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..config import DenoiseConfig, MaskConfig
from ..data.normalize import NormStats, quantization_step
from ..device import autocast
from ..losses import masked_mse, masked_nll
from ..nets import DenoiserWithNoiseModel, NoiseNet, UNet
from ..noise.calibration import calibration_crops, calibration_phases, measure_correction
from ..noise.model import (
    curve_from_net,
    describe_noise_model,
    fit_poisson_gaussian,
    image_noise_curves,
    predict_noise_std,
)
from ..noise.refit import Stopped, refit_noise_net
from ..noise.stats import DISPLAY_MIN_FRACTION, binned_std, sample_residuals, write_residual
from .base import (
    Batch,
    ExportedNetwork,
    ExtraOutput,
    Monitor,
    OutputContext,
    Scores,
    unet_export,
)
from .blindspot import MaskedMethod, refuse_3d_export

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..masking import GridMasker
    from ..trained import TrainedModel

# the N-net's learning rate never exceeds this: 30x the CPU preset's 3e-3 made it diverge
NOISE_NET_MAX_LR = 0.03
CURVE_POINTS = 64


def _pick(t: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Pixels of ``t`` ``(B, C, Y, X)`` where ``where`` ``(B, Y, X)`` is true, as
    ``(1, C, N, 1)`` (also voxels: ``(B, C, Z, Y, X)`` and ``(B, Z, Y, X)``)."""
    return t.transpose(0, 1)[:, where][None, :, :, None]


def masked_likelihood(model: DenoiserWithNoiseModel, batch: Batch) -> Scores:
    """Masked-pixel NLL of the target under D-net signal + N-net noise (all ``B C Y X``,
    or ``B C Z Y X`` for a 3-D D-net).

    The N-net sees the signal detached: the D-net is pulled only towards the location that
    makes the observed values likely, never towards signal values where the N-net happens to
    predict a convenient noise level.
    """
    with autocast(batch.input.device):
        signal = model.denoiser(batch.input)
    signal = signal.float()
    # the N-net is pixel-wise: evaluate it at the masked pixels only (1/16 of them for n2s)
    where = batch.mask.amax(dim=1) > 0
    sig, tgt, m = (_pick(t, where) for t in (signal, batch.target, batch.mask))
    mix = model.noise_net(sig.detach())
    bins = model.noise_net.bin_width.view(1, -1, 1, 1)
    loss = masked_nll(tgt, sig, mix.log_weights, mix.means, mix.stds, m, bins)
    return Scores(loss, masked_mse(signal, batch.target, batch.mask).detach(), signal)


class NNet(MaskedMethod):
    """N-net blind denoising: a grid-masked D-net plus a learned pixel-wise noise model
    (2-D, or a 3-D D-net with ``config.model.dims == 3``)."""

    id = "nnet"
    name = "N-net blind denoising"
    description = ("Grid-masked denoiser (D-net) trained jointly with a pixel-wise noise model "
                   "(N-net, Gaussian or Gaussian mixture) by masked-pixel likelihood "
                   "(Ollion et al. 2021).")
    mask: ClassVar[MaskConfig] = MaskConfig(kind="n2s", grid_period=4, blind_spot="auto")
    noise_model_kinds = ("gaussian", "gmm2", "gmm3")
    citation: ClassVar[tuple[str, str]] = (
        "Ollion, Ollion, Gassiat, Lehéricy & Le Corff. Joint self-supervised blind denoising "
        "and noise estimation. arXiv:2102.08023, 2021.", "https://arxiv.org/abs/2102.08023")

    # -- training ---------------------------------------------------------------------------
    def network(self, config: DenoiseConfig) -> nn.Module:
        """The UNet (D-net) and the N-net; ``forward`` returns the D-net's signal."""
        return DenoiserWithNoiseModel(UNet(config.model),
                                      NoiseNet(config.model.in_channels, config.noise_model))

    def export_network(self, trained: TrainedModel) -> ExportedNetwork:
        """The D-net alone: the denoiser's one-pass prediction (the N-net stays out); 2-D
        models only, as for ``n2v`` and ``n2s``."""
        refuse_3d_export(self, trained)
        return unet_export(trained.model.denoiser, trained.config.model,
                           "the package holds the denoiser (D-net) only: the learned noise "
                           "model (N-net) and its noise outputs are not part of it")

    def objective(self, model: nn.Module, batch: Batch) -> Scores:
        """Masked-pixel likelihood (:func:`masked_likelihood`)."""
        return masked_likelihood(model, batch)

    def param_groups(self, model: nn.Module, config: DenoiseConfig) -> list[dict]:
        """The D-net at the schedule's rate, the N-net at ``noise_model.lr_scale`` times it
        (capped at ``NOISE_NET_MAX_LR``)."""
        noise_params = list(model.noise_net.parameters())
        own = {id(p) for p in noise_params}
        rest = [p for p in model.parameters() if id(p) not in own]
        return [{"params": rest, "lr_scale": 1.0, "lr_max": math.inf},
                {"params": noise_params, "lr_scale": config.noise_model.lr_scale,
                 "lr_max": NOISE_NET_MAX_LR}]

    def prepare(self, model: nn.Module, data, layout: Layout, norm: NormStats,
                config: DenoiseConfig) -> None:
        """Give the N-net the data's quantisation step (normalised units)."""
        rng = np.random.default_rng(config.train.seed)
        step = np.asarray(quantization_step(data, layout, rng=rng))
        scale = np.asarray(norm.high) - np.asarray(norm.low)
        model.noise_net.bin_width.copy_(torch.as_tensor(step / scale))

    def monitor(self, model: nn.Module, signal: torch.Tensor, norm: NormStats) -> Monitor:
        """The live noise curve (:func:`noise_monitor`)."""
        return noise_monitor(model.noise_net, signal, norm)

    def finish(self, trained: TrainedModel, data, layout: Layout, *,
               stop: threading.Event | None = None) -> TrainedModel:
        """With batch normalisation (3-D networks) fit the N-net again to the D-net's
        evaluation-mode residuals (``info["noise_refit"]``); then remove the D-net's own
        error from the noise model (``noise_model.calibrate``).

        A stop request (before or during them) skips what is left: the kept model keeps
        its noise model as it is and ``info["calibration"]`` (``info["noise_refit"]``) is
        ``"stopped"``.
        """
        cfg = trained.config
        if cfg.model.batch_norm:
            trained.info["noise_refit"] = _refit(trained, data, layout, self.masker(cfg), stop)
        if not cfg.noise_model.calibrate:
            return trained
        correction = None
        if (stop is None or not stop.is_set()) and trained.info.get("noise_refit") != "stopped":
            correction = measure_correction(
                trained.model.denoiser, trained.model.noise_net, data, layout, trained.norm,
                period=cfg.mask.grid_period, hide=cfg.mask.hide, divisor=cfg.model.divisor,
                seed=cfg.train.seed, stop=stop,
                depth=cfg.train.patch_depth if cfg.model.dims == 3 else None)
        if correction is None:
            trained.info["calibration"] = "stopped"
        else:
            trained.info["noise_correction"] = correction
        return trained

    # -- outputs ----------------------------------------------------------------------------
    def outputs(self) -> tuple[ExtraOutput, ...]:
        """Noise std map, residual, noise curve (model and measured), noise summary."""
        return noise_outputs()


def _refit(trained: TrainedModel, data, layout: Layout, masker: GridMasker,
           stop: threading.Event | None) -> dict[str, Any] | str:
    """The N-net fitted again to the evaluation-mode residuals of a D-net with batch
    normalisation (:mod:`~napari_blind_denoise.core.noise.refit`), on the calibration's
    crops and phases; ``"stopped"`` when ``stop`` ended it."""
    cfg = trained.config
    if stop is not None and stop.is_set():
        return "stopped"
    depth = cfg.train.patch_depth if cfg.model.dims == 3 else None
    crops = calibration_crops(data, layout, trained.norm, cfg.model.divisor, depth,
                              np.random.default_rng(cfg.train.seed))
    phases = calibration_phases(masker, torch.Generator().manual_seed(cfg.train.seed))
    try:
        return refit_noise_net(trained.model.denoiser, trained.model.noise_net, crops, masker,
                               phases, stop=stop)
    except Stopped:
        return "stopped"


def noise_monitor(noise_net: nn.Module, signal: torch.Tensor, norm: NormStats) -> Monitor:
    """A noise model's live curve: ``(signal, std)`` of channel 0 over the signal range of
    the validation patches (input units); ``info["signal_range"]`` per channel."""
    flat = signal.detach().float().transpose(0, 1).reshape(signal.shape[1], -1).cpu()
    q = torch.quantile(flat[:, :: max(1, flat.shape[1] // 100_000)],
                       torch.tensor([0.005, 0.995]), dim=1).numpy()  # (2, C)
    low = np.asarray(norm.low)
    scale = np.asarray(norm.high) - low
    rng = q * scale + low
    s, std = curve_from_net(noise_net, norm, tuple(rng[:, 0]), CURVE_POINTS, 0)
    info = {"signal_range": [[float(a), float(b)] for a, b in rng.T]}
    return Monitor((tuple(map(float, s)), tuple(map(float, std))), info)


def noise_outputs() -> tuple[ExtraOutput, ...]:
    """The outputs of a learned noise model (a model with a ``noise_net`` that
    :mod:`~napari_blind_denoise.core.noise.model` reads): noise std map, residual, noise
    curve (model and measured), noise summary."""
    return (
        ExtraOutput("noise_std", "image", "noise", "noise std", _noise_std, colormap="magma"),
        ExtraOutput("residual", "image", "noise", "residual", _residual, files=False),
        ExtraOutput("noise_curve", "curve", "noise", "noise model", _model_curves,
                    columns=("signal", "std")),
        ExtraOutput("measured_noise_curve", "curve", "noise", "measured residual std",
                    _measured_curves, files=False, style="measured",
                    columns=("signal", "std")),
        ExtraOutput("noise_model", "table", "noise", "noise model summary", _summary,
                    summary=_one_line,
                    report=(("noise_model", "kind"), ("noise_a", "a"), ("noise_b", "b"))),
    )


def _noise_std(ctx: OutputContext, out):
    """The N-net evaluated at the denoised signal, per pixel."""
    yield from predict_noise_std(ctx.trained, ctx.denoised, ctx.layout.axes, out=out,
                                 stop=ctx.stop)


def _residual(ctx: OutputContext, out):
    """Noisy minus denoised."""
    yield from write_residual(ctx.noisy, ctx.denoised, out, ctx.layout, stop=ctx.stop)


def _curves(ctx: OutputContext) -> list[tuple[np.ndarray, ...]]:
    return ctx.memo("image_noise_curves", lambda: image_noise_curves(
        ctx.trained, ctx.denoised, ctx.layout.axes, n=CURVE_POINTS))


def _model_curves(ctx: OutputContext) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per channel: the learned noise std over the denoised image's signal range."""
    return [(signal, std) for signal, std, _ in _curves(ctx)]


def _measured_curves(ctx: OutputContext) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per channel: the std of the residual ``noisy - denoised`` binned by signal."""
    out = []
    for c in range(ctx.layout.channels):
        signal, residual = sample_residuals(ctx.noisy, ctx.denoised, ctx.layout, channel=c)
        centres, std, _ = binned_std(signal, residual, min_fraction=DISPLAY_MIN_FRACTION)
        out.append((centres, std))
    return out


def _summary(ctx: OutputContext) -> dict[str, Any]:
    """Kind, components, calibration and the Poisson-Gaussian fit of every channel."""
    curves = _curves(ctx)
    fits = []
    for c, (signal, std, counts) in enumerate(curves):
        a, b = fit_poisson_gaussian(signal, std, counts)
        fits.append({"channel": c, "a": a, "b": b,
                     "signal_range": [float(signal[0]), float(signal[-1])]})
    summary = describe_noise_model(ctx.trained, *curves[0])
    summary["channels"] = fits
    return summary


def _one_line(summary: dict[str, Any]) -> str:
    return f"Noise: variance ≈ {summary['a']:.3g}·signal + {summary['b']:.3g}."
