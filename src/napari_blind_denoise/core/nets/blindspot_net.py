"""A blind spot built into the network (Laine et al. 2019), and its learned noise model.

:class:`HalfPlaneUNet` is a UNet in which every output pixel sees only the input rows at or
above its own: each convolution's output is shifted down by ``k // 2`` rows (the input is
padded with ``k - 1`` zero rows on top, none below), and each downsampling first shifts the
features down by one row, so that the pooled row ``j`` covers rows ``2j - 1`` and ``2j``,
which the nearest-neighbour upsampling hands back to rows ``2j`` and ``2j + 1`` only.

:class:`BlindSpotNet` runs four rotated copies of the input (0°, 90°, 180°, 270°) through one
shared :class:`HalfPlaneUNet`, shifts each result down by one more row (so a pixel's own row
is out of view: the half-plane is *strictly* above it), rotates them back, concatenates them
and combines them by 1x1 convolutions (the last shift pads zeros: no copy of the pixel's
own row comes into view). Together the four half-planes see every pixel except
the centre. With ``hide=(ey, ex)`` the shifts are ``ey + 1`` rows for the vertical branches
and ``ex + 1`` for the horizontal ones: the hidden block is ``(2 ey + 1) x (2 ex + 1)``
(noise correlated between neighbours).

The output is a Gaussian prior for the clean pixel: its mean and variance (softplus); for
``C > 1`` channels the mean and a covariance between the channels through its Cholesky
factor (:func:`prior_tril`: ``C (C + 1) / 2`` values per pixel).

Padding never mirrors (that would copy pixels from below into view): inside the UNet it
replicates the edge (a copy of a row at or above), to a multiple of ``2**depth`` it is zeros
at the bottom and right.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig, NoiseModelConfig
from .noise_net import Mixture

MIN_VARIANCE = 1e-6  # floor of the prior and noise variances, normalised units (std 1e-3)
PRIOR_INIT_STD = 0.03  # initial prior std, normalised units (the data's range is ~1)


def _inv_softplus(y: float) -> float:
    return math.log(math.expm1(y))


def shift_down(x: torch.Tensor, rows: int, mode: str = "constant") -> torch.Tensor:
    """``x`` ``(..., Y, X)`` moved down by ``rows`` rows, bottom rows dropped; on top zeros
    or (``mode="replicate"``) copies of the first row."""
    if rows == 0:
        return x
    return F.pad(x, (0, 0, rows, 0), mode=mode)[..., : x.shape[-2], :]


class ShiftConv2d(nn.Conv2d):
    """A ``k x k`` convolution whose output row ``i`` sees input rows ``i - k + 1 .. i``.

    Padding replicates the edge pixels (``k - 1`` rows on top, ``k // 2`` columns either
    side, none below): a copy of row ``i`` or of a row above is still in the half-plane, and,
    unlike zeros, a flat extension tells the network little about where the border is, so
    it behaves the same on windows of the training size and on larger tiles.
    """

    def __init__(self, c_in: int, c_out: int, k: int = 3) -> None:
        super().__init__(c_in, c_out, k, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pad (replicate) above and at the sides, then convolve without padding."""
        k = self.kernel_size[0]
        return super().forward(F.pad(x, (k // 2, k // 2, k - 1, 0), mode="replicate"))


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(ShiftConv2d(c_in, c_out), nn.LeakyReLU(0.1, inplace=True),
                         ShiftConv2d(c_out, c_out), nn.LeakyReLU(0.1, inplace=True))


def shifted_pool(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling after a one-row shift down (row ``j`` pools rows ``2j - 1, 2j``)."""
    return F.max_pool2d(shift_down(x, 1, "replicate"), 2)


class HalfPlaneUNet(nn.Module):
    """UNet whose output pixel ``(i, j)`` depends on input rows ``<= i`` only.

    ``(B, C, Y, X)`` in (Y, X multiples of ``2**depth``), ``(B, base_channels, Y, X)`` out.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        ch = [config.base_channels * 2**i for i in range(config.depth + 1)]
        self.down = nn.ModuleList()
        c_prev = config.in_channels
        for c in ch[:-1]:
            self.down.append(_block(c_prev, c))
            c_prev = c
        self.bottom = _block(ch[-2], ch[-1])
        self.up = nn.ModuleList(nn.Conv2d(ch[i], ch[i - 1], 1)
                                for i in range(config.depth, 0, -1))
        self.dec = nn.ModuleList(_block(2 * ch[i - 1], ch[i - 1])
                                 for i in range(config.depth, 0, -1))
        self.channels = ch[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Features of ``x``; row ``i`` sees rows ``<= i``."""
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = shifted_pool(x)
        x = self.bottom(x)
        for up, dec in zip(self.up, self.dec, strict=True):
            x = F.interpolate(up(x), scale_factor=2.0, mode="nearest")
            x = dec(torch.cat([x, skips.pop()], dim=1))
        return x


class Prior(NamedTuple):
    """Gaussian prior of the clean pixel, normalised units.

    ``mean`` and ``variance`` (the covariance's diagonal) ``(B, C, Y, X)``; for ``C > 1``
    also ``scale_tril``, the lower-triangular Cholesky factor ``L`` of the covariance
    ``L L^T``, ``(B, Y, X, C, C)`` (``None`` for one channel).
    """

    mean: torch.Tensor
    variance: torch.Tensor
    scale_tril: torch.Tensor | None = None


def prior_outputs(channels: int) -> int:
    """Values per pixel of a prior over ``channels`` channels: ``C`` for the mean and
    ``C (C + 1) / 2`` for the covariance's Cholesky factor (2 for one channel)."""
    return channels + channels * (channels + 1) // 2


def prior_tril(raw_diag: torch.Tensor, raw_lower: torch.Tensor) -> torch.Tensor:
    """The Cholesky factor ``L`` ``(B, Y, X, C, C)`` of a prior covariance from the head's
    ``(B, C, Y, X)`` diagonal and ``(B, C (C - 1) / 2, Y, X)`` strictly lower outputs.

    ``L = U D^(1/2)``: ``D = softplus(raw_diag) + MIN_VARIANCE`` (the one-channel variance,
    so ``L``'s diagonal is positive and at least ``MIN_VARIANCE ** 0.5``), ``U`` unit lower
    triangular with the ``raw_lower`` entries (row-major, :func:`torch.tril_indices`) below
    the diagonal: dimensionless regression weights of one channel's prior error on the
    earlier channels', so the covariance is ``U D U^T`` and ``L_ij = U_ij sqrt(D_j)``.
    """
    c = raw_diag.shape[1]
    std = (F.softplus(raw_diag) + MIN_VARIANCE).sqrt().permute(0, 2, 3, 1)  # BYXC
    rows, cols = torch.tril_indices(c, c, -1, device=raw_diag.device)
    unit = torch.eye(c, dtype=std.dtype, device=std.device).expand(*std.shape, c).clone()
    unit[..., rows, cols] = raw_lower.permute(0, 2, 3, 1)
    return unit * std[..., None, :]


class BlindSpotNet(nn.Module):
    """Four rotated half-plane views, combined: each output pixel never sees its input pixel.

    Parameters
    ----------
    config
        ``depth``, ``base_channels``, ``in_channels`` (``C``) of the shared UNet; the
        prior is over ``out_channels`` (``= C``) channels.
    hide
        ``(ey, ex)``: also hide the neighbours up to ``ey`` rows and ``ex`` columns away.
    """

    def __init__(self, config: ModelConfig, hide: tuple[int, int] = (0, 0)) -> None:
        super().__init__()
        if config.in_channels != config.out_channels:
            raise ValueError("the blind-spot network (bsn) predicts a prior for the channels "
                             f"it sees: in_channels {config.in_channels} != out_channels "
                             f"{config.out_channels}")
        self.config = config
        self.hide = tuple(hide)
        self.unet = HalfPlaneUNet(config)
        f = self.unet.channels
        self.head = nn.Sequential(
            nn.Conv2d(4 * f, 4 * f, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(4 * f, 2 * f, 1), nn.LeakyReLU(0.1, inplace=True),
            nn.Conv2d(2 * f, prior_outputs(config.out_channels), 1))
        self._init_variance()

    def _init_variance(self) -> None:
        """Start the prior variance small (``PRIOR_INIT_STD``) and nearly uniform.

        The loss sees only the sum of prior and noise variance; the noise's is learned as the
        floor of that sum, reached where the prior variance goes to ~0. From softplus(0) (a
        prior std of 0.8 of the data's range) the head's bias needs ~1000 Adam steps to get
        there: meanwhile the prior variance took up the noise, the prior mean learned little
        (its errors weigh 1/variance) and the learned noise ended below the truth. Measured
        on a 48² ramp with Gaussian noise, 300 steps: prior 17.8 dB from softplus(0), 33.4 dB
        from this start. Several channels: the covariance starts diagonal (the lower
        entries' bias at 0, their weights scaled by 0.1 as the variances').
        """
        last, c = self.head[-1], self.config.out_channels
        with torch.no_grad():
            last.weight[c:].mul_(0.1)
            last.bias[c:2 * c].fill_(_inv_softplus(PRIOR_INIT_STD**2))
            last.bias[2 * c:].zero_()

    def prior(self, x: torch.Tensor) -> Prior:
        """The prior mean and variance of every pixel of ``x`` ``(B, C, Y, X)``."""
        h, w = x.shape[-2:]
        d = self.config.divisor
        # zeros (a copy would bring pixels from below into view in the rotated branches)
        x = F.pad(x, (0, (-w) % d, 0, (-h) % d))
        # 0° and 180° in one batch, 90° and 270° (transposed shape) in another
        feats: list[torch.Tensor] = [x, x, x, x]
        for ks in ((0, 2), (1, 3)):
            views = torch.cat([torch.rot90(x, k, dims=(-2, -1)) for k in ks], dim=0)
            for k, f in zip(ks, self.unet(views).chunk(2, dim=0), strict=True):
                feats[k] = f
        ey, ex = self.hide
        parts = [torch.rot90(shift_down(f, (ey if k % 2 == 0 else ex) + 1), -k, dims=(-2, -1))
                 for k, f in enumerate(feats)]
        feats = torch.cat(parts, dim=1)
        # the head in float32 even under mixed precision (as the UNet's last layer)
        with torch.autocast(device_type=x.device.type, enabled=False):
            if feats.dtype in (torch.float16, torch.bfloat16):
                feats = feats.float()
            out = self.head(feats)[..., :h, :w]
            c = self.config.out_channels
            if c == 1:
                mean, raw = out.chunk(2, dim=1)
                return Prior(mean, F.softplus(raw) + MIN_VARIANCE)
            tril = prior_tril(out[:, c:2 * c], out[:, 2 * c:])
        variance = tril.square().sum(-1).permute(0, 3, 1, 2)  # diag(L L^T), BCYX
        return Prior(out[:, :c], variance, tril)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The prior mean (the "no Bayes" estimate)."""
        return self.prior(x).mean


def robust_log_variance(x: torch.Tensor, lag: tuple[int, int] = (1, 1)) -> torch.Tensor:
    """Per image and channel ``(B, C)``: the log of a robust noise variance of ``x``
    ``(B, C, Y, X)``, ``(1.4826 MAD)**2 / 2`` of the differences of pixels ``lag`` apart
    along Y and along X (as bsn's start from the data; the pixels beyond a blind-spot block
    for correlated noise). The torch twin of ``methods.bayesian._robust_sigma`` (which
    squares nothing and takes numpy's median, the mean of the middle two values; this takes
    torch's, the lower one): it runs per image inside the network, that one once on the
    start crop."""
    ly, lx = lag
    d = torch.cat([(x[..., lx:] - x[..., :-lx]).flatten(2),
                   (x[..., ly:, :] - x[..., :-ly, :]).flatten(2)], dim=-1)
    mad = (d - d.median(-1, keepdim=True).values).abs().median(-1).values
    return ((1.4826 * mad).square() / 2).clamp_min(1e-12).log()


class NoiseParamNet(nn.Module):
    """The auxiliary network of ``fit="network"``: from an image's noisy pixels, per image,
    offsets of the raw (softplus-domain) noise parameters from the learned global ones.

    Its inputs, per image: the log of a robust noise variance (:func:`robust_log_variance`,
    one per channel) and, per feature channel of three 3x3 convolutions (the last two with
    stride 2), the log of the features' mean square; each less its value on the data when
    training starts (``reference``, :meth:`set_reference`). A linear map makes the
    ``outputs`` offsets. It starts at zero, except (``follow=True``, Gaussian noise) the
    Gaussian variance's offset, which starts at the robust log variance's: the softplus
    domain is the log domain for small variances, so the network starts at the global start
    rescaled per image by its robust variance, and learns from there. Any image size;
    float32 whatever the autocast.
    """

    def __init__(self, channels: int, outputs: int, *, lag: tuple[int, int] = (1, 1),
                 follow: bool = False, width: int = 16) -> None:
        super().__init__()
        self.lag = tuple(lag)
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 3, padding=1, stride=2), nn.LeakyReLU(0.1),
            nn.Conv2d(width, 2 * width, 3, padding=1, stride=2))
        inputs = channels + 2 * width
        self.out = nn.Linear(inputs, outputs)
        self.register_buffer("reference", torch.zeros(inputs))
        with torch.no_grad():
            self.out.weight.zero_()
            self.out.bias.zero_()
            if follow:  # the last `channels` outputs are the Gaussian variances' offsets
                for c in range(channels):
                    self.out.weight[outputs - channels + c, c] = 1.0

    def summary(self, x: torch.Tensor) -> torch.Tensor:
        """Per image ``(B, C + F)``: the robust log variances and the features' log mean
        squares."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.float()
            energy = self.features(x).square().mean(dim=(-2, -1)).clamp_min(1e-8).log()
            return torch.cat([robust_log_variance(x, self.lag), energy], dim=1)

    @torch.no_grad()
    def set_reference(self, x: torch.Tensor) -> None:
        """The summaries' mean over the images ``x`` ``(B, C, Y, X)`` as the reference."""
        self.reference.copy_(self.summary(x).mean(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, outputs)`` offsets for the images ``x`` ``(B, C, Y, X)``."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.out(self.summary(x) - self.reference)


NOISE_INIT_STD = 0.1  # initial noise std, normalised units (the data's range is ~1)
MEAN_OFFSET_MOMENTUM = 0.02  # running mean of the per-image offsets over training
IMPULSE_INIT = 0.1  # initial fraction of impulse pixels
PARAMETRIC_KINDS = ("gaussian", "poisson-gaussian", "impulse")


class ParametricNoise(nn.Module):
    """Noise as learned global scalars per channel, normalised units.

    ``gaussian``: variance ``b``; ``poisson-gaussian``: ``a * signal + b`` (``a, b >= 0`` by
    softplus; the variance floored at ``MIN_VARIANCE`` where the signal is below 0);
    ``impulse``: with probability ``alpha`` (a sigmoid) the pixel is replaced by a value
    uniform over ``[low, high]`` (the buffer ``value_range``, set from the data), otherwise
    it is the clean value plus Gaussian noise of variance ``b``. With ``config.sigma`` set,
    ``b`` is not learned: :meth:`fix_variance` sets it once the normalisation is known.
    With ``config.fit == "estimate"`` neither is learned: the start (:meth:`start_at`,
    :meth:`start_poisson_gaussian`, from the data) is kept. With ``"network"`` an auxiliary
    :class:`NoiseParamNet` adds per image offsets to the raw ``a, b`` (``params(x)``: one
    pair per image of ``x``); without an image (the noise curve, the noise std layer, the
    summary) the offsets' running mean over the training windows (``mean_offset``) stands in.

    Called on a signal ``(B, C, Y, X)`` it returns a :class:`Mixture`, so the N-net's
    readers (noise curves, noise std maps, densities) read it as they read an N-net: one
    zero-mean Gaussian, or for ``impulse`` two components, the Gaussian and the uniform
    impulses as a Gaussian of the same mean (``centre - signal``) and variance
    (``width**2 / 12``): its ``total_std`` is the root mean square of ``noisy - signal``.
    """

    def __init__(self, channels: int, config: NoiseModelConfig,
                 lag: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        if config.kind not in PARAMETRIC_KINDS:
            raise ValueError(f"bsn noise model must be one of {PARAMETRIC_KINDS}, "
                             f"got {config.kind!r}")
        self.channels = channels
        self.kind = config.kind
        init = _inv_softplus(NOISE_INIT_STD**2)
        self.known = config.sigma is not None  # b given (a known sigma), not started here
        self.estimated = config.fit == "estimate"  # started from the data and held
        self.raw_b = nn.Parameter(torch.full((channels,), init),
                                  requires_grad=not (self.estimated or self.known))
        self.raw_a = nn.Parameter(torch.full((channels,), init), requires_grad=(
            not self.estimated and config.kind == "poisson-gaussian"))
        if config.kind == "impulse":
            logit = math.log(IMPULSE_INIT / (1 - IMPULSE_INIT))
            self.raw_alpha = nn.Parameter(torch.full((channels,), logit))
            self.register_buffer("value_range", torch.tensor([[0.0, 1.0]] * channels))
        self.register_buffer("bin_width", torch.zeros(channels))  # as the N-net's: none
        self.per_image = config.fit == "network"
        if self.per_image:
            self.image_net = NoiseParamNet(channels, 2 * channels, lag=lag,
                                           follow=config.kind == "gaussian")
            self.register_buffer("mean_offset", torch.zeros(2 * channels))

    @torch.no_grad()
    def start_at(self, variance: float | Sequence[float]) -> None:
        """Start from a noise variance ``variance`` (normalised units; one for all channels
        or one per channel): ``b`` at it (unless fixed), and for Poisson-Gaussian noise ``a``
        at a tenth of it."""
        variances = self._per_channel(variance)
        if not self.known:
            self._fill(self.raw_b, [_inv_softplus(max(v, MIN_VARIANCE)) for v in variances])
        self._fill(self.raw_a, [_inv_softplus(max(v / 10, MIN_VARIANCE)) for v in variances])

    @torch.no_grad()
    def start_poisson_gaussian(self, fits: Sequence[tuple[float | None, float | None]]) -> None:
        """Start ``a, b`` per channel at ``fits`` (normalised units; ``(None, None)`` keeps
        that channel's start); both floored at ``MIN_VARIANCE`` (the softplus keeps them
        positive; a camera offset can fit ``b`` below 0)."""
        for c, (a, b) in enumerate(fits):
            if a is None or b is None:
                continue
            self.raw_a[c] = _inv_softplus(max(a, MIN_VARIANCE))
            self.raw_b[c] = _inv_softplus(max(b, MIN_VARIANCE))

    @torch.no_grad()
    def start_impulses(self, alpha: float | Sequence[float],
                       variance: float | Sequence[float]) -> None:
        """Start ``impulse`` noise at a fraction ``alpha`` of impulses and a Gaussian
        variance ``variance`` (unless fixed); each one value or one per channel."""
        self._fill(self.raw_alpha, [math.log(a / (1 - a)) for a in self._per_channel(alpha)])
        if not self.known:
            self._fill(self.raw_b, [_inv_softplus(max(v, MIN_VARIANCE))
                                    for v in self._per_channel(variance)])

    def _per_channel(self, value: float | Sequence[float]) -> list[float]:
        """``value`` (a scalar or one per channel) as one Python float per channel."""
        return np.broadcast_to(np.asarray(value, np.float64), (self.channels,)).tolist()

    @staticmethod
    def _fill(param: torch.Tensor, values: list[float]) -> None:
        param.copy_(torch.tensor(values, dtype=param.dtype))

    @torch.no_grad()
    def fix_variance(self, variance: torch.Tensor) -> None:
        """The known Gaussian noise variance ``(C,)``, normalised units."""
        self.raw_b.copy_(variance.clamp_min(MIN_VARIANCE).expm1().log())

    @torch.no_grad()
    def set_range(self, low: torch.Tensor, high: torch.Tensor) -> None:
        """The range ``(C,)`` each ``(C,)`` of impulse values, normalised units."""
        self.value_range.copy_(torch.stack([low, torch.maximum(high, low + 1e-6)], dim=1))

    @property
    def learned(self) -> bool:
        """True when the Gaussian noise's parameters are learned (not a known sigma, not
        estimated from the data and held)."""
        return self.raw_b.requires_grad

    def params(self, x: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a, b)`` per channel ``(C,)``, normalised units (``a`` is 0 unless
        Poisson-Gaussian); with ``fit="network"`` and images ``x`` ``(B, C, Y, X)``, per
        image ``(B, C)`` (in training the offsets' running mean follows them)."""
        raw_a, raw_b = self.raw_a, self.raw_b
        if self.per_image:
            if x is None:
                offset = self.mean_offset
            else:
                offset = self.image_net(x)
                if self.training:
                    with torch.no_grad():
                        self.mean_offset.lerp_(offset.detach().mean(0), MEAN_OFFSET_MOMENTUM)
            raw_a, raw_b = raw_a + offset[..., :self.channels], raw_b + offset[..., self.channels:]
        a = F.softplus(raw_a) if self.kind == "poisson-gaussian" else raw_a * 0
        return a, F.softplus(raw_b)

    def impulse_fraction(self) -> torch.Tensor:
        """``alpha`` per channel (0 unless ``impulse``)."""
        if self.kind != "impulse":
            return torch.zeros_like(self.raw_b)
        return torch.sigmoid(self.raw_alpha)

    def variance(self, signal: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        """Variance of the Gaussian noise at ``signal`` ``(B, C, Y, X)`` (``x``: the noisy
        images, for ``fit="network"``; see :meth:`params`)."""
        a, b = (p.view(-1, self.channels, 1, 1) for p in self.params(x))
        return (a * signal + b).clamp_min(MIN_VARIANCE)

    def forward(self, signal: torch.Tensor, x: torch.Tensor | None = None) -> Mixture:
        """The noise as a mixture at ``signal``, ``(B, C, K, Y, X)`` (class docstring)."""
        std = self.variance(signal, x).sqrt()[:, :, None]
        zeros = torch.zeros_like(std)
        if self.kind != "impulse":
            return Mixture(zeros, zeros, std)
        alpha = self.impulse_fraction().view(1, -1, 1, 1, 1)
        low, high = (r.view(1, -1, 1, 1, 1) for r in self.value_range.unbind(1))
        log_w = torch.cat([torch.log1p(-alpha) + zeros, alpha.log() + zeros], dim=2)
        means = torch.cat([zeros, (low + high) / 2 - signal[:, :, None]], dim=2)
        stds = torch.cat([std, (high - low) / math.sqrt(12) + zeros], dim=2)
        return Mixture(log_w, means, stds)


class BayesianBlindSpot(nn.Module):
    """The blind-spot prior network plus the noise model; ``forward``: the prior mean."""

    def __init__(self, net: BlindSpotNet, noise_net: ParametricNoise) -> None:
        super().__init__()
        self.net = net
        self.noise_net = noise_net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The prior mean of ``x`` ``(B, C, Y, X)``."""
        return self.net(x)
