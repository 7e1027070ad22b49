"""Read a trained N-net: noise curves, per-pixel noise maps, densities, Poisson-Gaussian fit.

Everything here is in the input's intensity units (the N-net itself works on normalised
values). Only models trained with a noise model (method ``nnet``) qualify; see
:func:`has_noise_model`.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.normalize import NormStats, sample_values
from ..data.validate import check_image
from ..errors import InputError
from ..events import PredictEvent
from ..losses import mixture_log_prob
from ..nets.noise_net import Mixture, NoiseNet
from .calibration import apply_correction

if TYPE_CHECKING:
    from ..trained import TrainedModel


def has_noise_model(trained: TrainedModel) -> bool:
    """True when ``trained`` carries a learned noise model (its method learns one)."""
    return trained.spec.noise_model


def _noise_net(trained: TrainedModel) -> NoiseNet:
    if not has_noise_model(trained):
        raise InputError(f"the {trained.method!r} model has no noise model; "
                         "train with method 'nnet'")
    return trained.model.noise_net


def _scale(norm: NormStats, channel: int) -> tuple[float, float]:
    return norm.low[channel], norm.high[channel] - norm.low[channel]


@torch.no_grad()
def mixture_at(net: NoiseNet, signal: np.ndarray) -> Mixture:
    """N-net output at normalised signal values ``signal`` ``(C, N)``; tensors ``(C, K, N)``."""
    dev = next(net.parameters()).device
    t = torch.tensor(np.asarray(signal, np.float32), device=dev)[None, :, :, None]
    was_training = net.training
    net.eval()
    mix = net(t)
    net.train(was_training)
    return Mixture(*(p[0, ..., 0].float().cpu() for p in mix))


def noise_std_of(mix: Mixture, net: NoiseNet) -> torch.Tensor:
    """Std ``(C, N)`` of the noise a mixture ``(C, K, N)`` describes, normalised units.

    On quantised data (``net.bin_width`` ``h`` > 0) the mixture is the latent density behind
    the discretised likelihood; the observed values add the rounding variance ``h**2 / 12``
    (Sheppard's correction), which matters at a few photons per pixel. Sheppard's correction
    holds once the latent std is about ``h / 2`` or more; below that (a dark pixel near 0
    photons) the rounding is not uniform, so the term fades out as ``1 - exp(-(2 std / h)**4)``.
    """
    h = net.bin_width.detach().cpu().to(mix.stds.dtype).view(-1, 1)
    var = mix.total_std(dim=1).square()
    fade = -torch.expm1(-(4.0 * var / h.square().clamp_min(1e-30)).square())
    return (var + fade * h.square() / 12.0).sqrt()


def _mixture(trained: TrainedModel, signal: np.ndarray) -> Mixture:
    """The calibrated noise model of ``trained`` at normalised ``signal`` ``(C, N)``."""
    mix = mixture_at(_noise_net(trained), signal)
    return apply_correction(mix, signal, trained.info.get("noise_correction"))


def curve_from_net(net: NoiseNet, norm: NormStats, signal_range: tuple[float, float],
                   n: int = 64, channel: int = 0, *,
                   correction: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(signal, std)`` at ``n`` evenly spaced signal values of ``channel``, input units.

    ``correction``: the calibration factors of a trained model (``info["noise_correction"]``).
    """
    low, scale = _scale(norm, channel)
    signal = np.linspace(signal_range[0], signal_range[1], n)
    s = np.broadcast_to((signal - low) / scale, (net.channels, n))
    mix = apply_correction(mixture_at(net, s), s, correction)
    return signal, noise_std_of(mix, net)[channel].double().numpy() * scale


def default_signal_range(trained: TrainedModel, channel: int = 0) -> tuple[float, float]:
    """Signal range seen in training (percentiles of the D-net output on the validation
    patches, ``info["signal_range"]``), else the normalisation percentiles."""
    ranges = trained.info.get("signal_range")
    if ranges:
        return float(ranges[channel][0]), float(ranges[channel][1])
    return float(trained.norm.low[channel]), float(trained.norm.high[channel])


def noise_curve(trained: TrainedModel, n: int = 64,
                signal_range: tuple[float, float] | None = None, *,
                channel: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Predicted noise standard deviation as a function of the signal.

    Parameters
    ----------
    trained
        An ``nnet`` model.
    n
        Number of signal values.
    signal_range
        ``(low, high)`` in input units; default :func:`default_signal_range`.
    channel
        Image channel (each channel has its own noise model).

    Returns
    -------
    signal, std
        Two float64 arrays of length ``n``, input intensity units.
    """
    net = _noise_net(trained)
    rng = signal_range if signal_range is not None else default_signal_range(trained, channel)
    return curve_from_net(net, trained.norm, rng, n, channel,
                          correction=trained.info.get("noise_correction"))


def predict_noise_std(trained: TrainedModel, denoised, axes: str | None = None, *, out=None,
                      rows: int = 256, stop: threading.Event | None = None,
                      ) -> Generator[PredictEvent, None, object]:
    """Per-pixel predicted noise std: the N-net evaluated at the denoised signal.

    Works window by window (``rows`` image rows of one plane at a time), so ``denoised``
    and ``out`` may be zarr arrays larger than memory.

    Parameters
    ----------
    trained
        An ``nnet`` model.
    denoised
        Denoised image (numpy / zarr / dask), input units, e.g. the output of ``predict``.
    axes
        Axes of ``denoised`` (``None``: the model's axes if the dimensions match, else a
        guess).
    out
        Array of ``denoised.shape`` to write into; a new float32 numpy array if ``None``.
    rows
        Rows per window.
    stop
        Set it to end early.

    Yields
    ------
    PredictEvent
        One per window.

    Returns
    -------
    array
        ``out``: per-pixel noise std in input intensity units, every channel.
    """
    net = _noise_net(trained)
    layout = check_image(denoised, trained.axes_for(tuple(denoised.shape), axes))
    if layout.channels != net.channels:
        raise InputError(f"the model has {net.channels} channel(s), the image "
                         f"{layout.channels}")
    if out is None:
        out = np.zeros(layout.shape, np.float32)
    elif tuple(out.shape) != layout.shape:
        raise InputError(f"output shape {tuple(out.shape)} differs from input {layout.shape}")
    scale = (np.asarray(trained.norm.high) - np.asarray(trained.norm.low))[:, None]
    starts = range(0, layout.height, max(1, rows))
    n_win, done, t0 = layout.n_planes * len(starts), 0, time.perf_counter()
    for plane in layout.planes():
        for y0 in starts:
            ys = slice(y0, min(layout.height, y0 + rows))
            block = trained.norm.normalize(layout.read(denoised, plane, ys, slice(None)))
            c, h, w = block.shape
            mix = _mixture(trained, block.reshape(c, h * w))
            std = noise_std_of(mix, net).numpy() * scale
            layout.write(out, plane, ys, slice(None), std.reshape(c, h, w).astype(np.float32))
            done += 1
            yield PredictEvent(tile=done, n_tiles=n_win, elapsed=time.perf_counter() - t0)
            if stop is not None and stop.is_set():
                return out
    return out


def fit_poisson_gaussian(signal, std, weights=None) -> tuple[float, float]:
    """Least-squares fit of ``variance = a * signal + b`` to a noise curve.

    Parameters
    ----------
    signal, std
        Signal values and noise standard deviations (same length, input units).
    weights
        Non-negative weight of every point (e.g. how many pixels have that signal);
        uniform when ``None``.

    Returns
    -------
    a, b
        Gain-like slope and read-noise variance; not constrained to be positive (a pure
        Gaussian noise gives ``a`` near 0, which may come out slightly negative).
    """
    s = np.asarray(signal, np.float64).ravel()
    v = np.asarray(std, np.float64).ravel() ** 2
    w = np.ones_like(s) if weights is None else np.asarray(weights, np.float64).ravel()
    if not (s.shape == v.shape == w.shape) or s.size < 2:
        raise ValueError("signal, std and weights need the same length, at least 2")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    sm = (w * s).sum() / w.sum()
    vm = (w * v).sum() / w.sum()
    var_s = (w * (s - sm) ** 2).sum()
    a = (w * (s - sm) * (v - vm)).sum() / var_s if var_s > 0 else 0.0
    return float(a), float(vm - a * sm)


def noise_density(trained: TrainedModel, signal: float, values, *,
                  channel: int = 0) -> dict[str, Any]:
    """Density of the residual ``noisy - signal`` predicted at one signal value.

    Parameters
    ----------
    trained
        An ``nnet`` model.
    signal
        Signal value, input units.
    values
        Residual values at which to evaluate the density, input units.
    channel
        Image channel.

    Returns
    -------
    dict
        ``total`` (density at ``values``, per input unit), ``components`` (one array per
        component, each already multiplied by its weight, so they sum to ``total``),
        ``weights``, ``means``, ``stds`` (lists, input units) and ``std`` (of the noise: the whole
        mixture, plus the rounding variance on quantised data, see :func:`noise_std_of`).
    """
    net = _noise_net(trained)
    low, scale = _scale(trained.norm, channel)
    s = np.full((net.channels, 1), (signal - low) / scale, np.float32)
    mix = _mixture(trained, s)
    w = mix.log_weights[channel, :, 0].exp().double().numpy()
    mu = mix.means[channel, :, 0].double().numpy() * scale
    sd = mix.stds[channel, :, 0].double().numpy() * scale
    r = np.asarray(values, np.float64)
    comps = [wk * np.exp(-0.5 * ((r - m) / sk) ** 2) / (sk * math.sqrt(2 * math.pi))
             for wk, m, sk in zip(w, mu, sd, strict=True)]
    return {"total": np.sum(comps, axis=0), "components": comps, "weights": w.tolist(),
            "means": mu.tolist(), "stds": sd.tolist(),
            "std": float(noise_std_of(mix, net)[channel, 0]) * scale}


def noise_log_density(trained: TrainedModel, signal, residual, *,
                      channel: int = 0) -> np.ndarray:
    """Log-density (per input unit) of residuals ``noisy - signal`` given ``signal``.

    On quantised data the probability of the residual's quantisation bin divided by the
    bin width, as in training (see :func:`~napari_blind_denoise.core.losses.mixture_log_prob`).

    Parameters
    ----------
    trained
        An ``nnet`` model.
    signal, residual
        Arrays of the same shape, input units, one channel.
    channel
        Image channel.

    Returns
    -------
    numpy.ndarray
        float64 array of ``signal``'s shape (higher is a better fit; its negative mean is
        the held-out negative log-likelihood).
    """
    net = _noise_net(trained)
    low, scale = _scale(trained.norm, channel)
    s = np.asarray(signal, np.float64)
    r = np.asarray(residual, np.float64)
    if s.shape != r.shape:
        raise ValueError(f"signal {s.shape} and residual {r.shape} shapes differ")
    flat = np.broadcast_to(((s - low) / scale).reshape(1, -1), (net.channels, s.size))
    mix = _mixture(trained, flat)
    z = torch.tensor((r / scale).reshape(1, 1, -1))  # (1, 1, N) against (C, K, N)
    bins = net.bin_width.detach().cpu().double().view(1, -1, 1)
    log_p = mixture_log_prob(z, *(p.double().unsqueeze(0) for p in mix), bins)[0, channel]
    return log_p.numpy().reshape(s.shape) - math.log(scale)


def describe_noise_model(trained: TrainedModel, signal: np.ndarray, std: np.ndarray,
                         weights=None) -> dict[str, Any]:
    """JSON-ready summary: kind, components, Poisson-Gaussian ``a``, ``b`` fitted to the curve."""
    cfg = trained.config.noise_model
    a, b = fit_poisson_gaussian(signal, std, weights)
    corr = trained.info.get("noise_correction")
    calibration = None if not corr else {
        "method": "re-noising: the D-net's squared error removed from the N-net's variance",
        "std_factor_min": float(np.min(corr["factor"])),
        "std_factor_max": float(np.max(corr["factor"]))}
    correlation = (trained.info.get("adapted") or {}).get("noise_correlation")
    return {"method": trained.method, "kind": cfg.kind, "components": cfg.components,
            "calibration": calibration, "noise_correlation": correlation,
            "hidden": cfg.hidden, "min_std_normalised": cfg.min_std,
            "pixelwise": True, "variance_model": "a * signal + b", "a": a, "b": b,
            "signal_range": [float(signal[0]), float(signal[-1])],
            "normalization": trained.norm.to_dict(), "units": "input intensity"}


def image_noise_curves(trained: TrainedModel, denoised, axes: str, *, n: int = 64,
                       max_values: int = 4_000_000) -> list[tuple[np.ndarray, ...]]:
    """Noise curve of every channel over the signal range of a denoised image.

    Returns
    -------
    list of (signal, std, counts)
        Per channel: ``n`` signal values evenly spaced over ``[min, max]`` of up to
        ``max_values`` sampled denoised pixels, the predicted noise std there (input units),
        and how many sampled pixels lie nearest to each value (weights for a fit).
    """
    layout = check_image(denoised, axes)
    values = sample_values(denoised, layout, max_values, np.random.default_rng(0))
    curves = []
    for c in range(layout.channels):
        lo, hi = float(values[c].min()), float(values[c].max())
        if hi <= lo:
            hi = lo + 1e-6 * max(1.0, abs(lo))
        signal, std = noise_curve(trained, n, (lo, hi), channel=c)
        edges = np.concatenate([[-np.inf], (signal[1:] + signal[:-1]) / 2, [np.inf]])
        counts = np.histogram(values[c], bins=edges)[0].astype(np.float64)
        curves.append((signal, std, counts))
    return curves
