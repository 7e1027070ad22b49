"""The trained network blended with a calibrated classical filter (``n2v``, ``n2s``).

Two denoisers of about the same quality whose errors differ (a small network after a minute
of CPU training and a Gaussian blur) average to a better one. How much of each is decided
from the noisy image alone, as Noise2Self calibrates a filter: on the windows and grid
phases of the classical calibration, with the network's own partition (its blind spot, so
correlated noise stays hidden), both are applied to the masked windows and give, at the
hidden grid points, J-invariant predictions ``a`` (network) and ``b`` (filter) of the noisy
values ``y``. For a J-invariant ``f`` the loss ``E|f - y|^2`` is the error against the clean
image plus the noise variance, so the blend ``w a + (1 - w) b`` with the lowest loss is the
one closest to the clean image:
``w = <y - b, a - b> / |a - b|^2``, clipped to [0, 1] (a least-squares fit).

The weight is measured on the J-invariant versions and applied to the one-pass outputs (the
network without masking, the filter on the image): the weight transfers when both one-pass
outputs are better than their J-invariant versions by similar amounts, which the benchmark
checks against the weight chosen with the ground truth (docs/benchmarks.md, "Blending with
a calibrated filter").

The one-pass blur's σ. A J-invariant blur is not the one-pass blur at the same σ: with a
blind-spot block, its hidden pixels take their ring's mean, so at a small σ it averages a
ring of pixels two or three away, and with one hidden pixel on correlated noise it is
rewarded for copying its neighbours' noise. Either way its loss prefers a smaller σ than the
one-pass blur needs on correlated noise (1.03 against the ground truth's 1.47 px on a W2S
tuning pair made correlated, −1.05 dB). So the one-pass σ is also estimated directly, by
Stein's unbiased risk for a linear filter ``K`` on noise of autocovariance ``C``:
``E|Ky - x|² = E|Ky - y|² - C(0) + 2 Σ_j K_j C(j)``, with the shape of ``C`` from the
flat tiles' debiased autocorrelation (:func:`..noise.correlation.
noise_autocorrelation_debiased`) and its level from the windows' second differences
(:func:`noise_variance`). On the W2S tuning pairs each estimate misses in its own cases
(the risk on the noisiest images, made most correlated; the J-invariant loss on the less
noisy ones and on correlated noise), and mostly on the small side (all 8 misses of the risk
by more than 0.05 dB, 14 of the J-invariant loss's 16; its 2 others cost at most 0.14 dB):
the larger of the two is used (docs/benchmarks.md, "The blend's blur on correlated
noise").
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..config import ClassicalConfig, DenoiseConfig, TrainConfig
from ..masking import GridMasker
from ..noise.correlation import noise_autocorrelation_debiased
from .classical import (
    CALIBRATION_BUDGET,
    FAMILIES,
    SECOND_DIFFERENCE,
    Classical,
    _as_filter,
    apply_filter,
    calibrate,
    calibration_windows,
    describe_filter,
    pick_phases,
    probes,
)

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..trained import TrainedModel
    from .base import Inferrer


def blend_weight(net: np.ndarray, filtered: np.ndarray, noisy: np.ndarray) -> float:
    """The weight ``w`` in [0, 1] minimising ``mean((w net + (1 - w) filtered - noisy)²)``
    (1 when the two predictions are identical)."""
    a, b, y = (np.asarray(v, np.float64).ravel() for v in (net, filtered, noisy))
    d = a - b
    denominator = float(np.dot(d, d))
    if denominator <= 0:
        return 1.0
    return float(np.clip(np.dot(y - b, d) / denominator, 0.0, 1.0))


def noise_variance(windows: list[np.ndarray], acf: np.ndarray) -> float:
    """Mean noise variance of ``(C, Y, X)`` windows whose noise has the normalised
    autocorrelation ``acf`` (``(2L+1, 2L+1)``, ``L >= 2``): the mean square of the 3×3
    second difference (:data:`.classical.SECOND_DIFFERENCE`), whose response to noise of
    unit variance is ``k^T R k`` (less than its 36 on independent noise when neighbours are
    correlated). Smooth signal adds little; edges add some, which errs towards a larger
    σ."""
    from scipy.ndimage import correlate

    c = acf.shape[0] // 2
    k = SECOND_DIFFERENCE
    gain = sum(k[a] * k[b] * acf[c + b[0] - a[0], c + b[1] - a[1]]
               for a in np.ndindex(3, 3) for b in np.ndindex(3, 3))
    power = [float(np.mean(correlate(np.asarray(ch, np.float64), k)[1:-1, 1:-1] ** 2))
             for w in windows for ch in w]
    return float(np.mean(power)) / max(float(gain), 1e-12)


def blur_weights(sigma: float, max_lag: int) -> np.ndarray:
    """The one-pass Gaussian blur's weights at lags up to ``max_lag`` (``(2L+1, 2L+1)``)."""
    r = max_lag + int(np.ceil(4 * sigma)) + 1
    impulse = np.zeros((1, 2 * r + 1, 2 * r + 1), np.float32)
    impulse[0, r, r] = 1.0
    k = apply_filter("gaussian", {"sigma": sigma}, impulse)[0]
    return k[r - max_lag:r + max_lag + 1, r - max_lag:r + max_lag + 1].astype(np.float64)


def risk_sigma(windows: list[np.ndarray], acf: np.ndarray, sigmas) -> float:
    """The σ of ``sigmas`` whose one-pass Gaussian blur has the lowest unbiased risk estimate
    on ``windows`` for noise of normalised autocorrelation ``acf`` (module docstring)."""
    variance = noise_variance(windows, acf)
    c = acf.shape[0] // 2
    risks = []
    for sigma in sigmas:
        params = {"sigma": float(sigma)}
        fit = np.mean([float(np.mean((apply_filter("gaussian", params, w).astype(np.float64)
                                      - w) ** 2)) for w in windows])
        risks.append(fit + 2.0 * variance * float((blur_weights(sigma, c) * acf).sum()))
    return float(sigmas[int(np.argmin(risks))])


def unavailable(config: DenoiseConfig) -> str:
    """Why a model of ``config`` cannot be blended, or ``""``."""
    if config.model.dims == 3:
        return "the filters are calibrated on 2-D windows, not for a 3-D network"
    if config.mask.downsample != 1:
        return ("a pixel-shuffle model has no full-resolution partition to calibrate the "
                "blend on")
    return ""


def calibrate_blend(trained: TrainedModel, data, layout: Layout,
                    stop: threading.Event | None = None
                    ) -> tuple[DenoiseConfig, dict[str, Any]] | None:
    """Calibrate the filter and the weight for ``trained`` (module docstring): its
    configuration with ``blend`` filled in, and what to record in ``info["blend"]``;
    ``None`` when ``stop`` was set on the way or the windows hold non-finite pixels."""
    cfg = trained.config
    blend = cfg.blend
    ccfg = DenoiseConfig(
        method=Classical.id, mask=replace(Classical.mask, blind_spot=cfg.mask.blind_spot),
        train=TrainConfig(seed=cfg.train.seed, time_budget=CALIBRATION_BUDGET),
        classical=ClassicalConfig(families=blend.families))
    windows = calibration_windows(data, layout, trained.norm, ccfg.classical)
    if not all(np.isfinite(w).all() for w in windows):
        return None
    best = None
    for best in calibrate(ccfg, windows, stop):  # noqa: B007 - the last is the best
        pass
    if best is None or (stop is not None and stop.is_set()):
        return None
    family, params = best.config.classical.filter, dict(best.config.classical.params)
    masker = GridMasker(ccfg.mask.grid_period, ccfg.mask.hide)
    net = _as_filter(trained)
    a, b, y = [], [], []
    for probe in probes(windows, masker, pick_phases(masker, ccfg.classical.phases,
                                                     cfg.train.seed)):
        if stop is not None and stop.is_set():
            return None
        a.append(net(probe.input)[probe.scored])
        b.append(apply_filter(family, params, probe.input)[probe.scored])
        y.append(probe.values)
    a, b, y = (np.concatenate(v).astype(np.float64) for v in (a, b, y))
    w = round(blend_weight(a, b, y), 4)
    loss = {name: float(np.mean((v - y) ** 2))
            for name, v in (("network", a), ("filter", b), ("blend", w * a + (1 - w) * b))}
    info: dict[str, Any] = {"weight": w}
    if family == "gaussian":  # the one-pass σ (module docstring)
        acf = noise_autocorrelation_debiased(data, layout, seed=cfg.train.seed)
        sigmas = [p["sigma"] for p in FAMILIES["gaussian"].grid(0.0)]
        risk = risk_sigma(windows, acf, sigmas)
        info["invariant_filter"] = describe_filter(family, params)
        info["risk_sigma"] = round(risk, 4)
        params = {**params, "sigma": max(float(params["sigma"]), risk)}
    config = replace(cfg, blend=replace(blend, filter=family, params=params, weight=w))
    info.update({"filter": describe_filter(family, params),
                 "partition": cfg.mask.blind_spot, "points": int(y.size),
                 **{f"{name}_loss": round(v, 8) for name, v in loss.items()}})
    return config, info


def blended(infer: Inferrer, config: DenoiseConfig) -> Inferrer:
    """``infer`` blended with the calibrated filter of ``config.blend`` (normalised tiles
    ``(B, C, Y, X)``; the filter runs on the CPU, each tile and channel on its own). With a
    network weight of 0 the network is not run: the filter alone is the result."""
    blend = config.blend
    w = float(blend.weight)
    family, params = blend.filter, dict(blend.params)

    def run(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        tiles = x.detach().float().cpu().numpy()
        f = torch.from_numpy(np.stack([apply_filter(family, params, t) for t in tiles]))
        if w == 0.0:
            return f.to(x.device)
        y = infer(model, x).float()
        return w * y + (1.0 - w) * f.to(y.device)

    return run


def describe(config: DenoiseConfig) -> str:
    """One line for the user: ``"blended with a Gaussian blur (σ = 1.80 px), network weight
    0.62"``, or ``""`` when the prediction is the network's alone."""
    blend = config.blend
    if blend is None or not blend.active:
        return ""
    return (f"blended with a calibrated {describe_filter(blend.filter, blend.params)}, "
            f"network weight {blend.weight:.2f}")
