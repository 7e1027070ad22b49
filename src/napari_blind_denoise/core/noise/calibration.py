"""Remove the D-net's own error from a learned noise model (re-noising calibration).

The N-net is trained on masked residuals ``Y - f_J(Y)``, where ``f_J`` is the D-net applied
to the grid-masked input. Because ``f_J`` never sees the pixel it predicts, the residual's
variance is the noise variance **plus** the D-net's squared error at that pixel:
``Var(Y - f_J(Y) | s) = sigma^2(s) + e^2(s)``. Where the signal is hard to predict (bright,
textured structures, high SNR) ``e^2`` is not small and the learned curve is biased upwards
(measured: +13 % median on HeLa mitochondria with Gaussian noise of std 30).

The calibration measures ``e^2`` on a problem whose truth is known: it takes the denoised
crops ``X^ = f(Y)`` as a clean image, adds noise drawn from the learned model, runs the
J-invariant D-net on it (every pixel predicted while masked, as in training) and bins the
squared error by signal. The noise std is then scaled down by
``k(s) = sqrt(1 - e^2(s) / var_model(s))``, floored at ``MIN_FACTOR``, and the step is
repeated once with the corrected noise. ``X^`` is smoother than the true signal, so this
under- rather than over-corrects.

The work runs one crop and one grid phase at a time and checks a stop event between them
(tens of milliseconds on a CPU), so a stop request ends it promptly: it then returns ``None``.

A 3-D D-net (``depth`` given) is calibrated the same way on ``VOLUME_CROPS`` volume crops
of ``depth`` planes by ``VOLUME_CROP``² voxels (sampled like its training windows), with
the 3-D grid of its training (:class:`~..masking.volume.VolumeGridMasker`, 64 phases for
period 4), of which ``VOLUME_PHASES`` random ones are predicted: a 3-D pass costs more per
voxel and a 3-D grid hides a quarter as many voxels per phase as a 2-D one, so predicting
every phase (as in 2-D) would cost 8 times the passes for the same number of error samples.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.patches import PatchSampler, Region, fit_patch_size
from ..data.volume import VolumeSampler
from ..masking.n2s import GridMasker
from ..masking.volume import VolumeGridMasker
from ..nets.noise_net import Mixture, NoiseNet

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..data.normalize import NormStats

CROP = 256  # crop edge (pixels)
CROPS = 4  # crops per calibration
VOLUME_CROP = 64  # a 3-D D-net's crops: Y/X edge (voxels) ...
VOLUME_CROPS = 2  # ... and how many (each as deep as the training windows)
VOLUME_PHASES = 8  # 3-D grid phases predicted (of 64 for period 4): 2 x 16 x 64² / 8 voxels
BINS = 32  # signal bins (normalised units, over the crops' 0.5-99.5 % range)
MIN_BIN_PIXELS = 64  # bins with fewer pixels take their neighbours' factor
MIN_FACTOR = 0.5  # the std is never scaled below half of the N-net's
ITERATIONS = 2


def _sample(mix: Mixture, factor: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """One draw of the (scaled) mixture per pixel; ``mix`` tensors ``(B, C, K, *spatial)``."""
    w = mix.log_weights.exp()
    u = torch.rand(w[:, :, :1].shape, generator=gen)
    k = (w.cumsum(dim=2) < u).sum(dim=2, keepdim=True).clamp_max(w.shape[2] - 1)
    mean = mix.means.gather(2, k)[:, :, 0]
    std = mix.stds.gather(2, k)[:, :, 0]
    z = torch.randn(mean.shape, generator=gen)
    return (mean + std * z) * factor


def factor_at(grid, factor, signal: np.ndarray) -> np.ndarray:
    """``factor`` ``(C, G)`` tabulated on ``grid`` ``(C, G)``, at ``signal`` ``(C, N)``."""
    grid, factor = np.asarray(grid, np.float64), np.asarray(factor, np.float64)
    return np.stack([np.interp(s, g, f) for s, g, f in zip(signal, grid, factor, strict=True)])


def _factor_map(grid: np.ndarray, factor: np.ndarray, signal: torch.Tensor) -> torch.Tensor:
    """:func:`factor_at` for a ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)`` signal tensor."""
    flat = signal.transpose(0, 1).reshape(signal.shape[1], -1).numpy()
    k = torch.from_numpy(factor_at(grid, factor, flat).astype(np.float32))
    b, c, *spatial = signal.shape
    return k.reshape(c, b, *spatial).transpose(0, 1)


def _binned_ratio(signal: np.ndarray, err2: np.ndarray, var: np.ndarray,
                  edges: np.ndarray) -> np.ndarray:
    """``clip(1 - mean(err2) / mean(var), MIN_FACTOR**2, 1)`` per bin of ``signal``."""
    idx = np.clip(np.searchsorted(edges, signal, side="right") - 1, 0, len(edges) - 2)
    n = np.bincount(idx, minlength=len(edges) - 1)
    e = np.bincount(idx, err2, minlength=len(edges) - 1)
    v = np.bincount(idx, var, minlength=len(edges) - 1)
    ok = n >= MIN_BIN_PIXELS
    centres = 0.5 * (edges[:-1] + edges[1:])
    if not ok.any():
        return np.ones_like(centres)
    ratio = np.clip(1.0 - e[ok] / np.maximum(v[ok], 1e-30), MIN_FACTOR**2, 1.0)
    return np.interp(centres, centres[ok], ratio)


class _Stopped(Exception):
    """The stop event was set during the calibration."""


def _per_crop(fn, batch: torch.Tensor, stop: threading.Event | None) -> torch.Tensor:
    """``fn`` applied to one crop of ``batch`` ``(B, ...)`` at a time, checking ``stop``
    before each."""
    outs = []
    for i in range(batch.shape[0]):
        if stop is not None and stop.is_set():
            raise _Stopped
        outs.append(fn(batch[i:i + 1]))
    return torch.cat(outs)


def calibration_phases(masker: GridMasker, gen: torch.Generator) -> list[int]:
    """The grid phases the calibration predicts: all of a 2-D grid; ``VOLUME_PHASES`` of a
    3-D one, drawn at random (each phase is J-invariant on its own; every voxel it hides is
    one more sample of the D-net's error)."""
    if not isinstance(masker, VolumeGridMasker) or masker.n_phases <= VOLUME_PHASES:
        return list(range(masker.n_phases))
    return sorted(torch.randperm(masker.n_phases, generator=gen)[:VOLUME_PHASES].tolist())


def _predict_hidden(masker: GridMasker, denoiser: torch.nn.Module, noisy: torch.Tensor,
                    dev: torch.device, stop: threading.Event | None, phases: list[int],
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """:meth:`GridMasker.predict_hidden` over ``phases``, one crop and one grid phase at a
    time: the prediction of every pixel while hidden (CPU) and where one of ``phases`` hid
    it (boolean; everywhere when ``phases`` are all of them)."""
    out = torch.zeros_like(noisy, dtype=torch.float32)
    hidden = torch.zeros_like(noisy, dtype=torch.float32)
    for phase in phases:
        m = masker.mask_phase(noisy, phase)
        pred = _per_crop(lambda x: denoiser(x.to(dev)).float().cpu(), m.input, stop)
        out = out + pred * m.mask
        hidden = hidden + m.mask
    return out, hidden > 0


def calibration_crops(data, layout: Layout, norm: NormStats, divisor: int, depth: int | None,
                      rng: np.random.Generator) -> torch.Tensor:
    """Normalised crops ``(CROPS, C, S, S)``, or ``(VOLUME_CROPS, C, depth, S, S)`` for a
    3-D D-net (``depth`` planes deep), from anywhere in the image."""
    edge, n = (CROP, CROPS) if depth is None else (VOLUME_CROP, VOLUME_CROPS)
    size = fit_patch_size(layout, edge, divisor)
    region = Region(0, layout.height - size + 1, 0, layout.width - size + 1)
    if depth is None:
        return torch.from_numpy(PatchSampler(data, layout, norm, size, region).sample(
            n, rng, False))
    sampler = VolumeSampler(data, layout, norm, size, region, depth=depth)
    return torch.from_numpy(sampler.sample(n, rng, False))


def measure_correction(denoiser: torch.nn.Module, noise_net: NoiseNet, data, layout: Layout,
                       norm: NormStats, *, period: int, divisor: int,
                       hide: tuple[int, int] = (0, 0), seed: int = 0,
                       depth: int | None = None,
                       stop: threading.Event | None = None) -> dict[str, Any] | None:
    """Per-channel std factors that remove the D-net's error from the noise model.

    Parameters
    ----------
    denoiser, noise_net
        The trained D-net and N-net (CPU or GPU; evaluated in ``eval`` mode).
    data, layout, norm
        The training image, its layout and normalisation.
    period, hide
        Grid-masking period and blind-spot block the D-net was trained with.
    divisor
        The D-net's Y/X size divisor (``2**depth``).
    depth
        For a 3-D D-net (``(B, C, Z, Y, X)``): the Z depth of its training windows, which
        the volume crops take (a multiple of its Z divisor); ``None`` for a 2-D D-net.
    stop
        Checked before every crop and grid phase: once set, the calibration ends early.

    Returns
    -------
    dict or None
        ``signal`` and ``factor``: lists of ``C`` lists of ``BINS`` values; ``signal`` in
        normalised units, ``factor`` multiplies the N-net's stds and means. ``None`` when
        ``stop`` ended it (the networks are left as they were).
    """
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    y = calibration_crops(data, layout, norm, divisor, depth, rng)
    masker = GridMasker(period, hide) if depth is None else VolumeGridMasker(period, hide)
    was = denoiser.training, noise_net.training
    denoiser.eval()
    noise_net.eval()
    try:
        with torch.no_grad():
            grid, ratio = _measure(denoiser, noise_net, y, masker, gen, stop)
    except _Stopped:
        return None
    finally:
        denoiser.train(was[0])
        noise_net.train(was[1])
    out = {"signal": grid.tolist(), "factor": np.sqrt(ratio).tolist(),
           "crops": int(y.shape[0]), "crop": int(y.shape[-1]), "iterations": ITERATIONS}
    if depth is not None:
        out["crop_depth"] = int(y.shape[2])
        out["phases"] = min(masker.n_phases, VOLUME_PHASES)
    return out


def _measure(denoiser: torch.nn.Module, noise_net: NoiseNet, y: torch.Tensor,
             masker: GridMasker, gen: torch.Generator, stop: threading.Event | None,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Signal grid ``(C, BINS)`` and variance ratio ``(C, BINS)`` from the crops ``y``
    (``(B, C, Y, X)``, or ``(B, C, Z, Y, X)`` with a volume ``masker``)."""
    dev = next(denoiser.parameters()).device
    clean = _per_crop(lambda x: denoiser(x.to(dev)).float().cpu(), y, stop)
    mix = Mixture(*_per_crop_mixture(noise_net, clean, dev, stop))
    var = mix.total_std().square()
    channels = y.shape[1]
    edges = []
    for c in range(channels):
        lo, hi = np.percentile(clean[:, c].numpy(), [0.5, 99.5])
        edges.append(np.linspace(lo, hi if hi > lo else lo + 1e-6, BINS + 1))
    grid = np.stack([0.5 * (e[:-1] + e[1:]) for e in edges])
    ratio = np.ones((channels, BINS))
    phases = calibration_phases(masker, gen)
    for _ in range(ITERATIONS):
        noisy = clean + _sample(mix, _factor_map(grid, np.sqrt(ratio), clean), gen)
        pred, hidden = _predict_hidden(masker, denoiser, noisy, dev, stop, phases)
        err2 = (pred - clean).square()
        ratio = np.stack([_binned_ratio(*(t[:, c][hidden[:, c]].numpy()
                                          for t in (clean, err2, var)), edges[c])
                          for c in range(channels)])
    return grid, ratio


def _per_crop_mixture(noise_net: NoiseNet, clean: torch.Tensor, dev: torch.device,
                      stop: threading.Event | None) -> tuple[torch.Tensor, ...]:
    """The N-net's mixture parameters at ``clean`` (CPU), one crop at a time."""
    parts = []
    for i in range(clean.shape[0]):
        if stop is not None and stop.is_set():
            raise _Stopped
        parts.append([p.cpu() for p in noise_net(clean[i:i + 1].to(dev))])
    return tuple(torch.cat(ps) for ps in zip(*parts, strict=True))


def apply_correction(mix: Mixture, signal: np.ndarray,
                     correction: dict[str, Any] | None) -> Mixture:
    """Scale a mixture ``(C, K, N)`` at normalised ``signal`` ``(C, N)`` by the factors."""
    if not correction:
        return mix
    k = factor_at(correction["signal"], correction["factor"], np.asarray(signal, np.float64))
    k = torch.from_numpy(k).to(mix.stds.dtype)[:, None, :]  # (C, 1, N)
    return Mixture(mix.log_weights, mix.means * k, mix.stds * k)
