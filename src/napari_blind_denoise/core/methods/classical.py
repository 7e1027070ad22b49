"""A classical filter calibrated by J-invariance (Batson & Royer 2019): no network to train.

Noise2Self's second idea: the parameters of *any* denoiser can be chosen without a clean
image by the self-supervised loss of its J-invariant version. The image is split into the
phases of a regular grid (:class:`~napari_blind_denoise.core.masking.GridMasker`); for each
phase the grid points (each with the block around it) are replaced by the mean of the ring
around the block, the filter is applied, and its output at the grid points is compared with
the noisy values there. When the noise at a grid point is independent of everything the
filter saw, this loss is the error against the clean image plus a constant (the noise
variance), so the candidate with the lowest loss is the best one up to the noise in the loss.

The candidates are a Gaussian blur (``sigma``), total variation (Chambolle, ``weight``),
wavelet shrinkage (BayesShrink, ``sigma``; needs PyWavelets), non-local means (``h``, patch
size) and BM3D (``sigma``; only where the ``bm3d`` package is installed), each on a small
grid scaled by the noise level measured on the image; the filters are scikit-image's. The
chosen filter is then applied as it is (not its J-invariant version) by the tiled predictor.

Correlated noise: a one-pixel partition lets the filter see the noise of the neighbours,
which is correlated with the noise it is scored against, so the loss rewards handing that
noise back and the calibration chooses too little smoothing. The partition hides the block
the measured correlation spans plus one pixel of margin (``blind_spot="auto"``, the rule of
:func:`~napari_blind_denoise.core.methods.blindspot.auto_blind_spot`).

scikit-image's ``calibrate_denoiser``/``denoise_invariant`` implement the one-pixel
partition only (their masked pixels take the mean of the four neighbours) and evaluate a
whole grid in one call; the loss here is measured through the project's ``GridMasker``, the
same for every partition, one candidate at a time so that progress, Stop and the time
budget act between candidates (``hide=(0, 0)`` reproduces scikit-image's loss,
tests/core/methods/test_classical.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
from torch import nn

from ..config import ClassicalConfig, DenoiseConfig, MaskConfig, ModelConfig, TrainConfig
from ..masking import GridMasker
from .base import Fitted, Method
from .blindspot import auto_blind_spot

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..data.normalize import NormStats
    from ..trained import TrainedModel

Params = dict[str, float]

# Seconds the calibration may take by default (the preset's time budget; ``--time-budget``
# overrides): enough for the Gaussian, TV, wavelet and NLM candidates on 256² windows on 2
# CPU cores, not for BM3D's (about 45 s there; skipped whole, and said so).
CALIBRATION_BUDGET = 10.0


# -- the filters --------------------------------------------------------------------------

def _gaussian(x: np.ndarray, p: Params) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, p["sigma"], mode="reflect", truncate=4.0)


def _tv(x: np.ndarray, p: Params) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(x, weight=p["weight"])


def _wavelet(x: np.ndarray, p: Params) -> np.ndarray:
    from skimage.restoration import denoise_wavelet

    return denoise_wavelet(x, sigma=p["sigma"], mode="soft", method="BayesShrink",
                           rescale_sigma=True)


def _nlm(x: np.ndarray, p: Params) -> np.ndarray:
    from skimage.restoration import denoise_nl_means

    return denoise_nl_means(x, h=p["h"], sigma=p["sigma"], patch_size=int(p["patch_size"]),
                            patch_distance=int(p["patch_distance"]), fast_mode=True)


def _bm3d(x: np.ndarray, p: Params) -> np.ndarray:
    import bm3d

    return np.asarray(bm3d.bm3d(x, sigma_psd=p["sigma"]), np.float32)


def _importable(name: str) -> Callable[[], bool]:
    def check() -> bool:
        import importlib.util

        return importlib.util.find_spec(name) is not None

    return check


def _grid(values, noise: float, key: str, relative: bool = True) -> list[Params]:
    return [{key: round(float(v * noise if relative else v), 5)} for v in values]


def _nlm_grid(noise: float) -> list[Params]:
    return [{"h": round(k * noise, 5), "sigma": round(noise, 5), "patch_size": float(ps),
             "patch_distance": 5.0} for ps in (3, 5) for k in (0.4, 0.6, 0.8, 1.0, 1.3, 1.7)]


@dataclass(frozen=True)
class Family:
    """A filter family: how to apply it, its candidates for a noise level (the standard
    deviation, normalised units), whether it is installed and how to name its parameters."""

    label: str
    apply: Callable[[np.ndarray, Params], np.ndarray]
    grid: Callable[[float], list[Params]]
    describe: Callable[[Params], str]
    available: Callable[[], bool] = lambda: True


# Gaussian sigmas in pixels (ratio ~1.19 between neighbours); the others relative to the
# measured noise level. Cheapest families first: a time budget keeps what was reached.
FAMILIES: dict[str, Family] = {
    "gaussian": Family("Gaussian blur", _gaussian,
                       lambda n: _grid(np.geomspace(0.3, 6.0, 18), n, "sigma", False),
                       lambda p: f"σ = {p['sigma']:.2f} px"),
    "tv": Family("total-variation filter", _tv,
                 lambda n: _grid(np.geomspace(0.25, 8.0, 8), n, "weight"),
                 lambda p: f"weight = {p['weight']:.3g}"),
    "wavelet": Family("wavelet shrinkage", _wavelet,
                      lambda n: _grid(np.geomspace(0.5, 4.0, 7), n, "sigma"),
                      lambda p: f"threshold σ = {p['sigma']:.3g}", _importable("pywt")),
    "nlm": Family("non-local means", _nlm, _nlm_grid,
                  lambda p: f"h = {p['h']:.3g}, {int(p['patch_size'])}×"
                            f"{int(p['patch_size'])} patches", ),
    "bm3d": Family("BM3D", _bm3d, lambda n: _grid(np.geomspace(0.5, 3.0, 6), n, "sigma"),
                   lambda p: f"σ = {p['sigma']:.3g}", _importable("bm3d")),
}


def apply_filter(family: str, params: Params, image: np.ndarray) -> np.ndarray:
    """``image`` ``(C, Y, X)`` filtered channel by channel, float32."""
    f = FAMILIES[family].apply
    return np.stack([np.asarray(f(np.asarray(c, np.float64), params), np.float32)
                     for c in image])


def describe_filter(family: str, params: Params) -> str:
    """``"Gaussian blur (σ = 1.80 px)"``."""
    spec = FAMILIES[family]
    return f"{spec.label} ({spec.describe(params)})"


class ClassicalFilter(nn.Module):
    """The chosen filter as a module: ``(B, C, Y, X)`` normalised tiles in and out.

    It holds no weights; its one parameter (a zero) only tells the predictor its device.
    The filter and its parameters live in the configuration (``DenoiseConfig.classical``),
    stored as JSON with the model.
    """

    def __init__(self, config: ClassicalConfig) -> None:
        super().__init__()
        self.family, self.params = config.filter, dict(config.params)
        self.placeholder = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.family:
            raise RuntimeError("the classical filter has not been calibrated")
        tiles = x.detach().float().cpu().numpy()
        out = np.stack([apply_filter(self.family, self.params, t) for t in tiles])
        return torch.from_numpy(out).to(x.device)

    def extra_repr(self) -> str:
        return describe_filter(self.family, self.params) if self.family else "uncalibrated"


# -- the self-supervised loss -------------------------------------------------------------

#: The 3x3 second-difference kernel (Immerkær 1996): blind to planes, ``|k|² = 36``.
SECOND_DIFFERENCE = np.array([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])


def noise_level(windows: list[np.ndarray]) -> float:
    """Noise standard deviation of ``(C, Y, X)`` windows: the median absolute response to
    :data:`SECOND_DIFFERENCE`, made robust to edges by the median."""
    from scipy.ndimage import convolve

    values = [np.abs(convolve(np.asarray(c, np.float64), SECOND_DIFFERENCE)[1:-1, 1:-1]).ravel()
              for w in windows for c in w]
    return max(float(np.median(np.concatenate(values))) / 0.6745 / 6.0, 1e-6)


def calibration_windows(data, layout: Layout, norm: NormStats, config: ClassicalConfig
                        ) -> list[np.ndarray]:
    """Normalised ``(C, y, x)`` central windows of up to ``config.planes`` planes (spread
    evenly over a stack)."""
    planes = list(layout.planes())
    picks = np.unique(np.linspace(0, len(planes) - 1, min(config.planes, len(planes)))
                      .round().astype(int))
    h, w = min(config.crop, layout.height), min(config.crop, layout.width)
    y0, x0 = (layout.height - h) // 2, (layout.width - w) // 2
    return [norm.normalize(np.asarray(layout.read(data, planes[i], slice(y0, y0 + h),
                                                  slice(x0, x0 + w)), np.float32))
            for i in picks]


def pick_phases(masker: GridMasker, count: int, seed: int = 0) -> list[int]:
    """``count`` grid phases of ``masker`` drawn without replacement (all when fewer)."""
    n = masker.n_phases
    return sorted(int(p) for p in np.random.default_rng(seed).choice(n, min(count, n),
                                                                     replace=False))


# Edge of the square tiles the loss is also summed over (pixels): the units of the paired
# comparison between families (errors of nearby pixels are correlated, tiles much less).
TILE = 32


class Probe(NamedTuple):
    """One masked window: the filter's ``input`` ``(C, Y, X)``, the ``scored`` grid points
    (boolean, same shape), the noisy ``values`` there and the ``tile`` each belongs to (an
    index over the windows' :data:`TILE`-pixel tiles, the same for every phase)."""

    input: np.ndarray
    scored: np.ndarray
    values: np.ndarray
    tile: np.ndarray


def probes(windows: list[np.ndarray], masker: GridMasker, phases: list[int]) -> list[Probe]:
    """Each window masked at each phase (computed once, shared by all candidates)."""
    out, first = [], 0
    for window in windows:
        x = torch.from_numpy(np.ascontiguousarray(window, np.float32))[None]
        tiles_x = -(-window.shape[-1] // TILE)
        for phase in phases:
            masked = masker.mask_phase(x, phase)
            scored = masked.mask[0].numpy() > 0
            _, ys, xs = np.nonzero(scored)
            tile = first + ys // TILE * tiles_x + xs // TILE
            out.append(Probe(masked.input[0].numpy(), scored, window[scored], tile))
        first += -(-window.shape[-2] // TILE) * tiles_x
    return out


class Errors(NamedTuple):
    """A filter's squared errors at the scored points, summed per tile (``sums``) with the
    points counted (``counts``)."""

    sums: np.ndarray
    counts: np.ndarray

    @property
    def loss(self) -> float:
        """The mean squared error over all scored points."""
        return float(self.sums.sum() / max(self.counts.sum(), 1))

    def advantage(self, other: Errors) -> float:
        """How many standard errors this filter's loss lies below ``other``'s: the mean of
        the per-tile paired differences over their standard error (tiles with no scored
        point left out). Positive: this one is better."""
        used = self.counts > 0
        diff = (other.sums[used] - self.sums[used]) / self.counts[used]
        if diff.size < 2:
            return 0.0
        spread = float(diff.std(ddof=1)) / np.sqrt(diff.size)
        mean = float(diff.mean())
        if spread > 0:
            return mean / spread
        return 0.0 if mean == 0 else float(np.copysign(np.inf, mean))


def invariant_errors(apply: Callable[[np.ndarray], np.ndarray], probes: list[Probe],
                     stop: threading.Event | None = None) -> Errors | None:
    """Squared differences, at the grid points of each probe, between ``apply`` of the
    masked window and the noisy window, summed per tile; ``None`` when ``stop`` was set on
    the way."""
    size = max(int(p.tile.max(initial=-1)) for p in probes) + 1
    sums, counts = np.zeros(size), np.zeros(size)
    for probe in probes:
        if stop is not None and stop.is_set():
            return None
        out = apply(probe.input)
        sq = (out[probe.scored].astype(np.float64) - probe.values) ** 2
        sums += np.bincount(probe.tile, weights=sq, minlength=size)
        counts += np.bincount(probe.tile, minlength=size)
    return Errors(sums, counts)


def invariant_loss(apply: Callable[[np.ndarray], np.ndarray], probes: list[Probe],
                   stop: threading.Event | None = None) -> float | None:
    """Self-supervised loss of ``apply``'s J-invariant version: the mean squared difference,
    at the grid points of each probe, between ``apply`` of the masked window and the noisy
    window; ``None`` when ``stop`` was set on the way."""
    errors = invariant_errors(apply, probes, stop)
    return None if errors is None else errors.loss


def candidates(config: ClassicalConfig, noise: float) -> list[tuple[str, Params]]:
    """``(family, params)`` to try, installed families only, in the configured order."""
    return [(name, params) for name in config.families if FAMILIES[name].available()
            for params in FAMILIES[name].grid(noise)]


def projected_seconds(family: str, params: Params, probes: list[Probe], count: int,
                      side: int = 64) -> float:
    """Seconds ``count`` candidates of ``family`` would take on ``probes``: one application
    to a ``side``² corner of the first probe, timed and scaled by area (filters cost about
    linearly in pixels). The family must have been applied once already (imports)."""
    probe = probes[0].input
    corner = probe[:, :side, :side]
    t0 = time.perf_counter()
    apply_filter(family, params, corner)
    seconds = time.perf_counter() - t0
    return seconds * probe[0].size / corner[0].size * len(probes) * count


def calibrate(config: DenoiseConfig, windows: list[np.ndarray],
              stop: threading.Event | None = None) -> Iterator[Fitted]:
    """Evaluate every candidate on ``windows``; one :class:`Fitted` per candidate. The
    first is evaluated whatever ``stop`` says, so there is always a chosen filter.

    Not a generator itself: the masked windows are made and each family applied once to a
    16² corner (imports: seconds on a cold, busy machine) when it is called, so that the
    time budget of the returned iterator (and of the trainer that drives it) counts the
    candidates only."""
    cal = config.classical or ClassicalConfig()
    masker = GridMasker(config.mask.grid_period, config.mask.hide)
    masked = probes(windows, masker, pick_phases(masker, cal.phases, config.train.seed))
    noise = noise_level(windows)
    todo = candidates(cal, noise)
    families = {f: [p for g, p in todo if g == f] for f in dict.fromkeys(f for f, _ in todo)}
    for family, grid in families.items():
        apply_filter(family, grid[0], masked[0].input[:, :16, :16])
    return _calibration(config, masked, noise, families, stop)


def _calibration(config: DenoiseConfig, masked: list[Probe], noise: float,
                 families: dict[str, list[Params]], stop: threading.Event | None
                 ) -> Iterator[Fitted]:
    """:func:`calibrate`'s candidates, family by family.

    With a time budget (``config.train.time_budget``), a family whose candidates are
    projected (:func:`projected_seconds`) to end past the budget is skipped whole and named
    in the info's ``skipped`` (seconds projected), so that an expensive filter (BM3D) is
    tried only when there is time for all its candidates; the first family always runs. The
    budget counts from after each family's first application to a 16² corner, which imports
    its modules."""
    cal = config.classical or ClassicalConfig()
    state = _Calibration(noise=noise, total=sum(len(g) for g in families.values()),
                         significance=cal.significance)
    budget, t0 = config.train.time_budget, time.perf_counter()

    def next_family() -> str | None:
        """The next family with time for all its candidates; the skipped ones recorded
        (decided before the last candidate's event, so that event knows it is the last)."""
        while families:
            family = next(iter(families))
            grid = families.pop(family)
            if budget is not None and state.best[1]:
                needed = projected_seconds(family, grid[0], masked, len(grid))
                if time.perf_counter() - t0 + needed > budget:
                    state.skipped[family] = round(needed, 1)
                    continue
            return family
        return None

    family = next_family()
    while family is not None:
        grid = FAMILIES[family].grid(noise)
        for i, params in enumerate(grid):
            errors = invariant_errors(lambda x, f=family, p=params: apply_filter(f, p, x),
                                      masked, stop if state.tried else None)
            if errors is None:
                return
            state.record(family, params, errors)
            following = next_family() if i == len(grid) - 1 else family
            yield state.fitted(config)
        family = following


@dataclass
class _Calibration:
    """The running state of :func:`calibrate`: the lowest loss of the first family tried
    (the simplest, normally the Gaussian blur) is the reference, and a candidate of another
    family replaces the choice only when its loss is lower than the choice's and lower than
    the reference's by at least ``significance`` standard errors (:meth:`Errors.advantage`):
    with a block partition the families' losses often differ by less than their noise, and
    a lower loss by chance picked a filter 4 dB worse (docs/benchmarks.md)."""

    noise: float
    total: int
    significance: float = 0.0
    best: tuple[float, str, Params] = (np.inf, "", {})
    per_family: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, float] = field(default_factory=dict)
    tried: int = 0
    last: float = np.inf
    reference: tuple[str, Errors] | None = None

    def record(self, family: str, params: Params, errors: Errors) -> None:
        """One candidate's errors."""
        self.tried += 1
        self.last = loss = errors.loss if np.isfinite(errors.loss) else np.inf  # it failed
        own = self.reference is None or self.reference[0] == family
        if own:
            advantage = np.inf  # the reference family: its lowest loss is its best
            if self.reference is None or loss < self.best[0]:
                self.reference = (family, errors)
        else:
            advantage = (errors.advantage(self.reference[1])
                         if np.isfinite(loss) and np.isfinite(self.reference[1].loss)
                         else np.inf if np.isfinite(loss) else -np.inf)
        if family not in self.per_family or loss < self.per_family[family]["loss"]:
            self.per_family[family] = {"loss": loss, "params": params,
                                       "advantage": advantage}
        if not self.best[1] or (loss < self.best[0] and advantage >= self.significance):
            self.best = (loss, family, params)

    def fitted(self, config: DenoiseConfig) -> Fitted:
        """The :class:`Fitted` of the last candidate recorded, with the best so far."""
        cal = config.classical or ClassicalConfig()
        chosen = replace(config, classical=replace(cal, filter=self.best[1],
                                                   params=self.best[2]))
        info = _info(self.best, config, self.noise, self.per_family, self.tried)
        info["classical"]["skipped"] = dict(self.skipped)
        # candidates of skipped families are not coming: the count is what will be tried
        total = self.total - sum(len(FAMILIES[f].grid(self.noise)) for f in self.skipped)
        notice = _notice(self.best, config, self.tried, self.skipped, self.overlooked())
        return Fitted(self.last, self.best[0], total, chosen, info, notice)

    def overlooked(self) -> list[tuple[str, float]]:
        """Families whose lowest loss is below the choice's but not by enough standard
        errors: ``(family, percent lower)``."""
        best = self.best[0]
        return [(f, 100.0 * (best - v["loss"]) / best) for f, v in self.per_family.items()
                if v["loss"] < best and np.isfinite(best) and best > 0]


def _info(best, config: DenoiseConfig, noise: float, per_family, tried: int
          ) -> dict[str, Any]:
    loss, family, params = best
    cal = config.classical or ClassicalConfig()
    return {"classical": {
        "filter": family, "params": params, "summary": describe_filter(family, params),
        "loss": round(loss, 8), "noise_std": round(noise, 6),
        "partition": config.mask.blind_spot, "candidates_tried": tried,
        "significance": cal.significance,
        "families": {f: {"loss": round(v["loss"], 8), "params": v["params"],
                         **({} if np.isinf(v["advantage"]) and v["advantage"] > 0
                            else {"advantage": round(float(v["advantage"]), 3)})}
                     for f, v in per_family.items()},
    }}


def _notice(best, config: DenoiseConfig, tried: int, skipped: dict[str, float],
            overlooked: list[tuple[str, float]]) -> str:
    spot = config.mask.blind_spot
    what = "one-pixel" if spot == "pixel" else spot.replace("x", "×")
    text = (f"calibrated {describe_filter(best[1], best[2])}: the lowest self-supervised "
            f"(J-invariant, {what} partition) loss of {tried} candidate filters")
    if overlooked:
        cal = config.classical or ClassicalConfig()
        names = ", ".join(f"{FAMILIES[f].label} ({pct:.1f} % lower)" for f, pct in overlooked)
        text += (f", apart from {names}: not lower than the "
                 f"{FAMILIES[best[1]].label}'s by {cal.significance:g} standard errors, "
                 "within the loss's noise")
    if skipped:
        names = ", ".join(f"{FAMILIES[f].label} (~{s:.0f} s)" for f, s in skipped.items())
        text += (f"; not tried within the {config.train.time_budget:g} s budget: {names} "
                 "(a longer --time-budget tries them)")
    return text


# -- the yardstick ------------------------------------------------------------------------

def yardstick(trained: TrainedModel, data, layout: Layout,
              stop: threading.Event | None = None) -> dict[str, Any] | None:
    """The trained denoiser's J-invariant self-supervised loss next to the calibrated
    classical filter's: the same windows (normalised as the model normalises), the same
    partition (hiding the measured noise correlation) and the same grid phases. The model
    is applied as it predicts (its default inference mode). ``None`` when stopped.

    Both are losses against the noisy image: lower is better, but their difference is not
    a distance to the clean image. ``None`` too for a 3-D network: the filters are scored on
    2-D windows, which it does not take.
    """
    if trained.config.model.dims == 3:
        return None
    cfg = DenoiseConfig(method=Classical.id, mask=Classical.mask,
                        train=TrainConfig(seed=trained.config.train.seed,
                                          time_budget=CALIBRATION_BUDGET),
                        classical=ClassicalConfig())
    cfg, _ = auto_blind_spot(cfg, data, layout)
    windows = calibration_windows(data, layout, trained.norm, cfg.classical)
    if not all(np.isfinite(w).all() for w in windows):
        return None  # unknown pixels (a method that fills them in): the filters need all
    best = None
    for best in calibrate(cfg, windows, stop):  # noqa: B007 - the last is the best
        pass
    if best is None or (stop is not None and stop.is_set()):
        return None
    masker = GridMasker(cfg.mask.grid_period, cfg.mask.hide)
    masked = probes(windows, masker, pick_phases(masker, cfg.classical.phases, cfg.train.seed))
    net = invariant_loss(_as_filter(trained), masked, stop)
    if net is None:
        return None
    return {"network_loss": round(net, 8), "classical_loss": round(best.best, 8),
            "classical": best.info["classical"]["summary"],
            "partition": cfg.mask.blind_spot, "network_better": net < best.best}


def _as_filter(trained: TrainedModel) -> Callable[[np.ndarray], np.ndarray]:
    """``trained``'s default inference as a ``(C, Y, X)`` numpy filter."""
    spec = trained.spec
    infer = spec.inferrer(trained, spec.inference_modes(trained.config)[0])
    device = next(trained.model.parameters()).device

    def apply(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            y = infer(trained.model, torch.from_numpy(x)[None].to(device))
        return y.float()[0].cpu().numpy()

    return apply


# -- the method ---------------------------------------------------------------------------

class Classical(Method):
    """A classical filter chosen by its J-invariant self-supervised loss (module
    docstring)."""

    id = "classical"
    name = "Calibrated classical filter"
    description = ("No network: a Gaussian blur, total-variation, wavelet or non-local-means "
                   "filter whose parameters are chosen by a J-invariant self-supervised loss "
                   "(Batson & Royer 2019); a result in seconds.")
    mask = MaskConfig(kind="n2s", grid_period=4, blind_spot="auto")
    compared_with_classical = False
    loss_label = "J-invariant loss"
    options = ("classical", ClassicalConfig)

    def preset(self, name: str, model: ModelConfig, train: TrainConfig) -> dict[str, Any]:
        """The shared settings (unused but the seed and time budget), the default families
        and a calibration budget of :data:`CALIBRATION_BUDGET` seconds."""
        return {"model": model, "train": replace(train, time_budget=CALIBRATION_BUDGET),
                "classical": ClassicalConfig()}

    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """``blind_spot="auto"``: the partition hides the measured noise correlation."""
        return auto_blind_spot(config, data, layout)

    def fit(self, config: DenoiseConfig, data, layout: Layout, norm: NormStats,
            stop: threading.Event) -> Iterator[Fitted]:
        """Calibrate on central windows of a few planes (:func:`calibrate`)."""
        windows = calibration_windows(data, layout, norm, config.classical or ClassicalConfig())
        return calibrate(config, windows, stop)

    def network(self, config: DenoiseConfig) -> nn.Module:
        """The chosen filter (:class:`ClassicalFilter`)."""
        return ClassicalFilter(config.classical or ClassicalConfig())

    def transforms(self, config: DenoiseConfig) -> tuple[int, ...]:
        """None: the filters treat every orientation alike (test-time augmentation would
        only repeat the work)."""
        return (0,)

    def remedy(self, config: DenoiseConfig) -> str:
        """A larger partition, or a network."""
        return ("the noise may be correlated further than the partition hides: try "
                "--blind-spot 5x5 (Advanced > Blind spot in napari), or a network method")
