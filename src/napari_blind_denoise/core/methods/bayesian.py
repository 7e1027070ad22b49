"""Blind-spot network with Bayesian posterior-mean inference (Laine et al. 2019): ``bsn``.

The blind spot is built into the network (:class:`~napari_blind_denoise.core.nets.
BlindSpotNet`: four rotated half-plane UNets), so training needs no masker: every pixel of
every window is scored. The network outputs a Gaussian prior ``N(mu_x, s_x^2)`` for the
clean pixel from its surroundings; the noise model (``gaussian``: variance ``b``, learned or
a known sigma; ``poisson-gaussian``: ``a * x + b``, with ``a, b`` learned global scalars per
channel) gives the noisy pixel's likelihood ``N(mu_x, s_x^2 + s_n^2(mu_x))``, whose negative
log, minus a small reward for a larger noise std (the tie-break of :func:`likelihood`), is
the loss. ``impulse``: a learned fraction ``alpha`` of the pixels replaced by values uniform
over the data's range, the likelihood ``(1 - alpha) N(...) + alpha / width``, the posterior
weighing the Gaussian posterior against the prior by the chance that the pixel is clean.

Inference (``posterior``, the default) combines the prior with the noisy pixel ``y`` that the
network never saw: ``x^ = (s_n^2 mu_x + s_x^2 y) / (s_x^2 + s_n^2)``, the posterior mean of
a Gaussian prior and Gaussian noise; ``prior`` returns ``mu_x`` alone ("no Bayes"). The
posterior standard deviation ``sqrt(s_x^2 s_n^2 / (s_x^2 + s_n^2))`` is the ``uncertainty``
output ``posterior_std``; the learned noise model gives the same noise outputs as N-net.

Several channels (``C > 1``, e.g. ``CYX``): the prior is a ``C``-variate Gaussian, its
covariance ``L L^T`` through a Cholesky factor ``L`` the network predicts per pixel
(:func:`~napari_blind_denoise.core.nets.blindspot_net.prior_tril`), the Gaussian noise
independent per channel (``diag(var_n)``, each channel its own learned ``a, b``); the loss
is the joint NLL (:func:`joint_nll`), the posterior mean ``mu_x + S_x (S_x + S_n)^-1
(y - mu_x)`` and ``posterior_std`` the square roots of its covariance's diagonal
(:func:`~napari_blind_denoise.core.mvn.gaussian_posterior`). Impulse noise stays per channel
(the prior's marginal variances). One channel is computed exactly as before.

Correlated noise: ``blind_spot="auto"`` (the default) measures the noise correlation when
training starts (as n2v/n2s do) and widens the architectural blind spot to the correlated
neighbours plus one pixel (the branches' shift grows from 1 row to ``e + 2``). The Bayesian
step then still adds back the noisy pixel with weight ``s_x^2 / (s_x^2 + s_n^2)``; the prior
sees no noise correlated with that pixel's, so the combination stays unbiased, but the noise
it keeps is correlated between neighbours (it shows as texture, not grain), and the prior,
from farther context, is less certain, so that weight grows (docs/methods.md).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import DenoiseConfig, MaskConfig, ModelConfig, TrainConfig
from ..data.normalize import sample_values
from ..data.patches import AXIS_PRESERVING, DIHEDRAL
from ..device import autocast
from ..losses import masked_mse
from ..mvn import add_diagonal, covariance, gaussian_posterior, mvn_nll
from ..nets import BayesianBlindSpot, BlindSpotNet, ParametricNoise
from ..nets.blindspot_net import Prior
from .base import Batch, ExtraOutput, Inferrer, Method, Monitor, OutputContext, Scores
from .blindspot import auto_blind_spot
from .nnet import NOISE_NET_MAX_LR, noise_monitor, noise_outputs

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..data.normalize import NormStats
    from ..trained import TrainedModel

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# reward per unit of noise std (normalised units) in the loss: the tie-break between the
# prior's and the noise's variance (:func:`likelihood`)
BALANCE = 0.05
# Adam's betas for the noise parameters: a shorter memory of the squared gradient (100 steps
# instead of 1000) than the network's, so early large gradients do not slow them for long
NOISE_BETAS = (0.9, 0.99)
# windows per step of the cpu preset (the shared preset's 16 gave half the steps and a worse
# model at a 120 s budget on the W2S tuning pairs: docs/benchmarks.md)
CPU_BATCH = 8


def gaussian_nll(y: torch.Tensor, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """Per-pixel negative log-likelihood of ``y`` under ``N(mean, variance)``."""
    return 0.5 * (variance.log() + (y - mean).square() / variance) + HALF_LOG_2PI


def impulse_log_odds(noise: ParametricNoise, y: torch.Tensor, mean: torch.Tensor,
                     variance: torch.Tensor) -> torch.Tensor:
    """Per pixel: log of ``(1 - alpha) N(y; mean, variance) / (alpha U(y))``, the odds that
    ``y`` is not an impulse (``U``: the uniform density over the impulse range)."""
    alpha = noise.impulse_fraction().view(1, -1, 1, 1)
    low, high = (r.view(1, -1, 1, 1) for r in noise.value_range.unbind(1))
    log_uniform = -(high - low).log()
    return (torch.log1p(-alpha) - gaussian_nll(y, mean, variance)) - (alpha.log() + log_uniform)


def noisy_nll(noise: ParametricNoise, y: torch.Tensor, mean: torch.Tensor,
              var_x: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """Per-pixel NLL of the noisy ``y`` under the prior ``N(mean, var_x)`` convolved with
    the noise: ``N(mean, var_x + var_n)``, for impulse noise mixed with the uniform:
    ``(1 - alpha) N(y; mean, var_x + var_n) + alpha U(y)``.

    The noise variance sees the prior mean detached (as N-net's noise model sees the
    signal): the prior is pulled only towards values that make the observed pixels likely,
    never towards signal levels where the noise model predicts a convenient variance.
    ``x``: the noisy images, for noise estimated per image (``fit="network"``).
    """
    total = var_x + noise.variance(mean.detach(), x)
    nll = gaussian_nll(y, mean, total)
    if noise.kind != "impulse":
        return nll
    # -log((1-a) N + a U) = -log((1-a) N) - log(1 + a U / ((1-a) N))
    alpha = noise.impulse_fraction().view(1, -1, 1, 1)
    return nll - torch.log1p(-alpha) - F.softplus(-impulse_log_odds(noise, y, mean, total))


def joint_nll(noise: ParametricNoise, y: torch.Tensor, mean: torch.Tensor,
              scale_tril: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """Several channels: the NLL of the noisy pixel's ``C`` values under
    ``N(mean, L L^T + diag(var_n))`` (prior covariance through its Cholesky factor ``L``,
    noise independent per channel, its variances at the detached prior mean as in
    :func:`noisy_nll`), divided by ``C`` (nats per value, as one channel's) and repeated
    over the channels: ``(B, C, Y, X)``, so that the masked mean is that of one channel."""
    total = add_diagonal(covariance(scale_tril), noise.variance(mean.detach(), x))
    per_value = mvn_nll(y, mean, total) / y.shape[1]
    return per_value.unsqueeze(1).expand_as(y)


def _joint(prior: Prior, noise: ParametricNoise) -> bool:
    """True when the prior has a covariance between channels and the noise is Gaussian
    (impulse noise stays per channel: the prior's marginal variances)."""
    return getattr(prior, "scale_tril", None) is not None and noise.kind != "impulse"


def likelihood(model: BayesianBlindSpot, batch: Batch,
               balance: float = BALANCE) -> Scores:
    """NLL of the noisy pixels under the prior convolved with the noise model
    (:func:`noisy_nll`), the mean over the scored pixels, minus ``balance`` times the mean
    noise std (normalised units) when the noise is learned.

    Several channels (:func:`joint_nll`): the joint NLL per value under the prior's full
    covariance plus the diagonal noise; with impulse noise each channel on its own.

    The likelihood sees only the sum ``var_x + var_n``: any split of it scores the same, so
    the noise parameters drift to wherever the optimiser leaves them (a Poisson-Gaussian
    slope came out near 0, the curve flat at the average noise level). The small reward
    for a larger noise std breaks the tie: the noise grows until it meets the total
    variance where the prior is certain (there the prior variance is at its floor and the
    likelihood pushes back), which is the noise level. At the balance it overshoots that
    level by a relative ``balance * std``, 0.1 % at a std of 0.02.
    """
    with autocast(batch.input.device):
        prior = model.net.prior(batch.input)
    mean, var_x = prior.mean.float(), prior.variance.float()
    noise, x = model.noise_net, batch.input
    if _joint(prior, noise):
        nll = joint_nll(noise, batch.target, mean, prior.scale_tril.float(), x)
    else:
        nll = noisy_nll(noise, batch.target, mean, var_x, x)
    if balance and noise.learned:
        nll = nll - balance * noise.variance(mean.detach(), x).sqrt()
    loss = (nll * batch.mask).sum() / batch.mask.sum().clamp_min(1.0)
    return Scores(loss, masked_mse(mean, batch.target, batch.mask).detach(), mean)


def posterior(model: BayesianBlindSpot, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and standard deviation of the clean pixels of ``x`` (normalised).

    Gaussian noise: ``(var_n mean + var_x y) / (var_x + var_n)``, variance
    ``var_x var_n / (var_x + var_n)``. Impulse noise: the pixel is clean (plus Gaussian
    noise) with the posterior probability ``r`` (the sigmoid of :func:`impulse_log_odds`),
    an impulse, which says nothing about the clean value, otherwise; the posterior is the
    mixture ``r`` x the Gaussian posterior + ``(1 - r)`` x the prior.

    Several channels, Gaussian noise: the posterior of the prior's full covariance and the
    diagonal noise (:func:`~napari_blind_denoise.core.mvn.gaussian_posterior`), the std the
    square root of its diagonal; impulse noise: each channel on its own, as above, with the
    prior's marginal variances.
    """
    prior = model.net.prior(x)
    mean, var_x = prior.mean.float(), prior.variance.float()
    noise, y = model.noise_net, x.float()
    var_n = noise.variance(mean, y)
    if _joint(prior, noise):
        return gaussian_posterior(mean, covariance(prior.scale_tril.float()), var_n, y)
    total = var_x + var_n
    post_mean, post_var = (var_n * mean + var_x * y) / total, var_x * var_n / total
    if noise.kind != "impulse":
        return post_mean, post_var.sqrt()
    r = torch.sigmoid(impulse_log_odds(noise, y, mean, total))
    mixed = r * post_mean + (1 - r) * mean
    var = (r * (post_var + (post_mean - mixed).square())
           + (1 - r) * (var_x + (mean - mixed).square()))
    return mixed, var.sqrt()


class BayesianBlindSpotMethod(Method):
    """Blind-spot network with a Gaussian prior and Bayesian inference (module docstring)."""

    id = "bsn"
    name = "Blind-spot network, Bayesian"
    description = ("A blind spot built into the network (four rotated half-plane UNets), a "
                   "Gaussian prior per pixel combined with the noisy pixel itself by a learned "
                   "noise model (Laine et al. 2019).")
    mask: ClassVar[MaskConfig] = MaskConfig(blind_spot="auto")
    # the first is the default: fluorescence noise is Poisson-Gaussian, and one learned Gaussian
    # level let the posterior fall below the prior on W2S pairs (docs/methods.md)
    noise_model_kinds = ("poisson-gaussian", "gaussian", "impulse")
    known_sigma_kinds = ("gaussian",)
    estimated_kinds = ("gaussian", "poisson-gaussian")
    # a learned curve drifted below the noise at CPU budgets (docs/methods.md)
    estimated_by_default = ("poisson-gaussian",)

    def preset(self, name: str, model: ModelConfig, train: TrainConfig) -> dict[str, Any]:
        """``cpu``: batches of ``CPU_BATCH`` windows instead of the shared 16 (every pixel of
        a window is scored, and a step runs the UNet on four rotations: at 120 s on the W2S
        tuning pairs twice the steps gave +0.56 dB; checked on report pairs together with
        the held noise, docs/benchmarks.md); ``gpu``: the shared settings."""
        if name == "cpu":
            train = replace(train, batch_size=CPU_BATCH)
        return {"model": model, "train": train}

    # -- training ---------------------------------------------------------------------------
    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """``blind_spot="auto"``: the architectural blind spot widened to the noise
        correlation measured on the image (``pixel`` when independent)."""
        config, info = auto_blind_spot(config, data, layout)
        if config.mask.blind_spot != "pixel" and "notice" in info:
            info["notice"] += (" (bsn: the network's blind spot widened; the posterior step "
                               "keeps part of the correlated noise, see docs/methods.md; "
                               "n2s may do better on such noise)")
        return config, info

    def network(self, config: DenoiseConfig) -> nn.Module:
        """The four-branch blind-spot prior network and the parametric noise model."""
        ey, ex = config.mask.hide  # pairs beyond the correlated neighbours
        return BayesianBlindSpot(BlindSpotNet(config.model, config.mask.hide),
                                 ParametricNoise(config.model.in_channels, config.noise_model,
                                                 lag=(ey + 1, ex + 1)))

    def objective(self, model: nn.Module, batch: Batch) -> Scores:
        """Every pixel's likelihood (:func:`likelihood`)."""
        return likelihood(model, batch)

    def param_groups(self, model: nn.Module, config: DenoiseConfig) -> list[dict]:
        """The prior network at the schedule's rate, the noise parameters at
        ``noise_model.lr_scale`` times it (capped, as N-net's), with ``NOISE_BETAS``; the
        auxiliary noise network (``fit="network"``) at the prior network's rate."""
        noise = model.noise_net
        aux = list(noise.image_net.parameters()) if noise.per_image else []
        scalars = [p for n, p in noise.named_parameters()
                   if p.requires_grad and not n.startswith("image_net.")]
        groups = [{"params": list(model.net.parameters()), "lr_scale": 1.0, "lr_max": math.inf},
                  {"params": scalars, "lr_scale": config.noise_model.lr_scale,
                   "lr_max": NOISE_NET_MAX_LR, "betas": NOISE_BETAS}]
        if aux:
            groups.append({"params": aux, "lr_scale": 1.0, "lr_max": math.inf})
        return groups

    def prepare(self, model: nn.Module, data, layout: Layout, norm: NormStats,
                config: DenoiseConfig) -> None:
        """Start from the data: the prior mean at the median, the noise at a robust estimate.

        The noise std is estimated from the differences of neighbouring pixels along Y and X
        (``1.4826 * MAD / sqrt(2)``; edges inflate it a little; with a blind-spot block,
        of pixels just outside it, :func:`_robust_sigma`) on a central crop of the first
        plane, per channel (the prior mean per channel at that crop's median). From a
        generic start, the first steps' residuals were many times the model's variance:
        their huge gradients filled Adam's second-moment estimate, and the noise parameter
        then crept at a quarter of its rate for the rest of a short run.

        A known sigma (``noise_model.sigma``, input units) fixes the Gaussian variance
        instead. Impulse noise: the impulses' range is the data's (minimum to maximum of up
        to 10⁶ sampled pixels).
        """
        noise = model.noise_net
        crops = _central_crop(data, layout, norm)
        ey, ex = config.mask.hide  # pairs beyond the correlated neighbours
        lag = (ey + 1, ex + 1)
        noise.start_at([max(_robust_sigma(crop, lag), 1e-3) ** 2 for crop in crops])
        if noise.kind == "poisson-gaussian" and not noise.known:
            fits = [estimate_poisson_gaussian(list(planes), lag=lag)
                    for planes in zip(*_plane_crops(data, layout, norm), strict=True)]
            noise.start_poisson_gaussian([fit or (None, None) for fit in fits])
        known = config.noise_model.sigma
        scale = torch.as_tensor(np.asarray(norm.high) - np.asarray(norm.low), dtype=torch.float32)
        if known is not None:
            noise.fix_variance((known / scale).square())
        if noise.kind == "impulse":
            values = norm.normalize(sample_values(data, layout, 1_000_000,
                                                  np.random.default_rng(0)))
            low, high = values.min(axis=1), values.max(axis=1)
            noise.set_range(torch.as_tensor(low), torch.as_tensor(high))
            guesses = [estimate_impulses(crop, float(hi - lo))
                       for crop, lo, hi in zip(crops, low, high, strict=True)]
            noise.start_impulses([a for a, _ in guesses],
                                 [max(sigma, 1e-3) ** 2 for _, sigma in guesses])
        if noise.per_image:  # the auxiliary network relative to the crop of the start
            noise.image_net.set_reference(torch.as_tensor(crops)[None])
        medians = [float(np.median(crop)) for crop in crops]
        with torch.no_grad():
            model.net.head[-1].bias[:len(medians)].copy_(torch.tensor(medians))

    def monitor(self, model: nn.Module, signal: torch.Tensor, norm: NormStats) -> Monitor:
        """The live noise curve."""
        return noise_monitor(model.noise_net, signal, norm)

    def transforms(self, config: DenoiseConfig) -> tuple[int, ...]:
        """All 8 flips/rotations, or (oblong blind spot) those keeping Y and X in place."""
        ey, ex = config.mask.hide
        return DIHEDRAL if ey == ex else AXIS_PRESERVING

    # -- inference --------------------------------------------------------------------------
    def inference_modes(self, config: DenoiseConfig) -> tuple[str, ...]:
        """``posterior`` (the prior combined with the noisy pixel) or ``prior`` (its mean)."""
        return ("posterior", "prior")

    def inferrer(self, trained: TrainedModel, mode: str) -> Inferrer:
        """The posterior mean, or the prior mean."""
        self.check_mode(trained.config, mode)
        if mode == "prior":
            return lambda model, x: model(x).float()
        return lambda model, x: posterior(model, x)[0]

    def joint_inferrer(self, trained: TrainedModel, mode: str, names: tuple[str, ...]
                       ) -> Inferrer | None:
        """``posterior``: the posterior mean and ``posterior_std`` from one network pass."""
        self.check_mode(trained.config, mode)
        if mode != "posterior" or names != ("posterior_std",):
            return None
        offset = _std_offset(trained)

        def infer(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
            mean, std = posterior(model, x)
            return torch.cat([mean, std - offset.to(x.device)], dim=1)

        return infer

    def remedy(self, config: DenoiseConfig) -> str:
        """A larger blind spot, or n2s."""
        return ("noise correlated between neighbouring pixels passes a small blind spot: try "
                "--blind-spot 3x3 or 5x5, or n2s")

    # -- outputs ----------------------------------------------------------------------------
    def outputs(self) -> tuple[ExtraOutput, ...]:
        """The noise model's outputs and the posterior standard deviation."""
        return (*_noise_outputs(),
                ExtraOutput("posterior_std", "image", "uncertainty", "posterior std",
                            _posterior_std, colormap="magma", joint=True))


def _std_offset(trained: TrainedModel) -> torch.Tensor:
    """``low / scale`` per channel: subtracted from a normalised std so that the predictor's
    de-normalisation (``* scale + low``) leaves ``std * scale``."""
    low = np.asarray(trained.norm.low, np.float32)
    scale = np.asarray(trained.norm.high, np.float32) - low
    return torch.as_tensor(low / scale).view(1, -1, 1, 1)


def _robust_sigma(crop: np.ndarray, lag: tuple[int, int] = (1, 1)) -> float:
    """Noise std from the differences of pixels ``lag`` apart along Y and along X (``(Y, X)``
    crop): ``1.4826 MAD / sqrt(2)``. Neighbours (lag 1) for independent noise; pixels just
    outside the blind-spot block for correlated noise, whose neighbours share part of it
    (scan-line noise, lag-1 0.67: neighbours give 0.58 of the std, pixels 4 apart along X
    its full value)."""
    ly, lx = lag
    diff = np.concatenate([(crop[..., lx:] - crop[..., :-lx]).ravel(),
                           (crop[ly:] - crop[:-ly]).ravel()])
    return 1.4826 * float(np.median(np.abs(diff - np.median(diff)))) / math.sqrt(2)


def estimate_poisson_gaussian(crops: list[np.ndarray], bins: int = 16,
                              lag: tuple[int, int] = (1, 1)) -> tuple[float, float] | None:
    """A first guess of ``a, b`` in ``variance = a * signal + b`` (the crops' units), or
    None when the data do not show a slope.

    Each pair of pixels ``lag`` apart along Y or along X gives a signal level (their mean)
    and a noise sample (their difference over ``sqrt 2``); neighbours (lag 1) for
    independent noise, pixels just outside the blind-spot block for correlated noise, whose
    neighbours' difference misses the shared part (scan-line noise, lag-1 0.67: half the
    slope at lag 1). The pairs are binned by level (``bins``
    quantiles); per bin the variance is ``(1.4826 MAD)**2`` of the samples (robust to the
    few pairs that straddle an edge), and ``a, b`` is the line through the bins' (level,
    variance) points, least squares weighted by ``1 / sqrt(variance)`` (a bin's error
    grows with its variance; full ``1 / variance`` weights let the flat floor below a
    camera's offset decide the slope); through the origin when the intercept comes out
    negative, as a camera offset or clipping at 0 makes it. None when the slope is not
    positive by twice its standard error (one flat plane: no slope to see) or there are too
    few pairs. Pairs across an edge fill the bins between two plateaus, so on a small busy
    image the fit can see a slope in Gaussian noise (48² blobs, σ = 30: ``a`` 2.2, ``b``
    752 for 0, 900; at 256² it sees none): a start, which training moves on from. The
    Poisson-Gaussian slope starts there instead of at a tenth of the
    variance: in the log-like parameterisation Adam moves it by about a factor e per 100
    steps, so from the generic start a short run never reached it (a learned slope of 0.09
    for a true 2 after 120 steps on flat planes at three levels).
    """
    ly, lx = lag
    pairs = ([(c[..., lx:], c[..., :-lx]) for c in crops]
             + [(c[ly:], c[:-ly]) for c in crops])
    level = np.concatenate([((p + q) / 2).ravel() for p, q in pairs])
    diff = np.concatenate([((p - q) / math.sqrt(2)).ravel() for p, q in pairs])
    if level.size < bins * 64:
        return None
    edges = np.quantile(level, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, level, side="right") - 1, 0, bins - 1)
    points = []
    for k in range(bins):
        d = diff[which == k]
        if d.size >= 32:
            mad = float(np.median(np.abs(d - np.median(d))))
            points.append((float(np.median(level[which == k])), (1.4826 * mad) ** 2))
    if len(points) < 3:
        return None
    x, v = np.asarray(points).T
    if not v.max() > 0:
        return None
    weights = 1 / np.sqrt(np.maximum(v, 1e-3 * v.max()))  # integer data: a MAD can be 0
    (a, b), cov = np.polyfit(x, v, 1, w=weights, cov=True)
    if not a > 2 * math.sqrt(max(cov[0, 0], 0.0)):  # no slope the bins can tell from 0
        return None
    if b < 0:  # a camera offset or clipping at 0: the line through the origin instead
        a, b = float(np.dot(x, v) / np.dot(x, x)), 0.0
    return float(a), float(b)


def _plane_crops(data, layout: Layout, norm: NormStats, n: int = 4, size: int = 256
                 ) -> list[np.ndarray]:
    """Central crops (``size``² at most, normalised, ``(C, Y, X)``) of up to ``n`` planes
    spread evenly over the data."""
    planes = list(layout.planes())
    picks = sorted({planes[round(i)] for i in np.linspace(0, len(planes) - 1, min(n, len(planes)))})
    h, w = layout.height, layout.width
    ys = slice(max(0, h // 2 - size // 2), min(h, h // 2 + size // 2))
    xs = slice(max(0, w // 2 - size // 2), min(w, w // 2 + size // 2))
    return [norm.normalize(np.asarray(layout.read(data, p, ys, xs), np.float32)) for p in picks]


def estimate_impulses(crop: np.ndarray, width: float) -> tuple[float, float]:
    """A first guess of the impulse fraction and the other pixels' noise std.

    Each pixel against the median of its 8 neighbours (impulses there are outvoted):
    ``s = 1.4826 MAD`` of that residual, the outliers beyond ``3 s``; impulses landing
    within ``3 s`` of the median pass unseen, a share ``6 s / width`` of them, so the
    fraction is divided by ``1 - 6 s / width``. Returns ``(alpha, s)``; ``s`` also counts
    what the median misses of the image (edges), so it errs high.
    """
    pad = np.pad(crop, 1, mode="reflect")
    h, w = crop.shape
    ring = [pad[1 + dy: 1 + dy + h, 1 + dx: 1 + dx + w]
            for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
    r = (crop - np.median(ring, axis=0)).ravel()
    s = 1.4826 * float(np.median(np.abs(r))) + 1e-6
    seen = float(np.mean(np.abs(r) > 3 * s))
    return min(0.6, max(0.01, seen / max(0.1, 1 - 6 * s / width))), s


def _central_crop(data, layout: Layout, norm: NormStats) -> np.ndarray:
    """The first plane's central 512² (at most), normalised, ``(C, Y, X)``."""
    return _plane_crops(data, layout, norm, n=1, size=512)[0]


def _posterior_std(ctx: OutputContext, out):
    """Per pixel: the posterior standard deviation, input units, computed on its own (the
    ``prior`` mode; with ``posterior`` the pipeline gets it from the denoising pass)."""
    from ..predict import predict

    trained = ctx.trained
    offset = _std_offset(trained)

    def infer(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        # offset so that the predictor's de-normalisation (* scale + low) leaves std * scale
        return posterior(model, x)[1] - offset.to(x.device)

    device = next(trained.model.parameters()).device
    yield from predict(trained, ctx.noisy, ctx.layout.axes, tile=ctx.tile, out=out,
                       device=device, inferrer=infer, stop=ctx.stop)


def noise_parameters(trained: TrainedModel) -> list[dict[str, Any]]:
    """The learned noise model per channel, input units: the Gaussian noise's
    ``variance = a * signal + b`` (``a`` = 0 unless Poisson-Gaussian; ``sigma`` =
    ``sqrt(b)``; ``sigma_known``: given, not learned; ``estimated``: estimated from the data
    when training started and held, not learned; ``per_image``: estimated per image by the
    auxiliary network, the values here the mean over the training windows), and the
    impulse fraction ``alpha
    (0 unless ``impulse``, which also has ``impulse_range``, the impulses' low and high)."""
    noise = trained.model.noise_net
    a_n, b_n = (p.detach().cpu().double().numpy() for p in noise.params())
    alpha = noise.impulse_fraction().detach().cpu().double().numpy()
    out = []
    for c in range(len(a_n)):
        low = float(trained.norm.low[c])
        scale = float(trained.norm.high[c]) - low
        a = float(a_n[c]) * scale
        b = float(b_n[c]) * scale * scale - a * low
        entry = {"channel": c, "a": a, "b": b, "sigma": math.sqrt(max(b, 0.0)),
                 "sigma_known": noise.known, "estimated": noise.estimated,
                 "per_image": noise.per_image,
                 "alpha": float(alpha[c])}
        if noise.kind == "impulse":
            entry["impulse_range"] = [float(v) * scale + low for v in noise.value_range[c]]
        out.append(entry)
    return out


def _noise_outputs() -> tuple[ExtraOutput, ...]:
    """N-net's noise outputs, the summary table carrying the learned parameters."""
    *outs, table = noise_outputs()

    def summary(ctx: OutputContext) -> dict[str, Any]:
        learned = noise_parameters(ctx.trained)
        first = learned[0]
        out = {**table.compute(ctx), "a": first["a"], "b": first["b"], "alpha": first["alpha"],
               "sigma": first["sigma"], "sigma_known": first["sigma_known"],
               "parameters": learned}
        if "impulse_range" in first:
            out["impulse_range"] = first["impulse_range"]
            out["variance_model"] = ("with probability alpha uniform over impulse_range, "
                                     "else signal + Gaussian noise of variance b; noise std "
                                     "files: root mean square of noisy - signal")
        return out

    return (*outs, replace(table, compute=summary, summary=_one_line,
                           report=(*table.report, ("noise_alpha", "alpha"))))


def _one_line(summary: dict[str, Any]) -> str:
    if "impulse_range" in summary:
        return (f"Noise: impulses in {summary['alpha']:.1%} of the pixels, the others with "
                f"Gaussian std {summary['sigma']:.3g}.")
    line = f"Noise: variance ≈ {summary['a']:.3g}·signal + {summary['b']:.3g}."
    if summary.get("parameters", [{}])[0].get("per_image"):
        line += " (estimated per image; this is the mean over the training windows)"
    return line


__all__ = ["BayesianBlindSpotMethod", "likelihood", "noise_parameters", "posterior"]
