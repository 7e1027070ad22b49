"""Self2Self with dropout (Quan et al. 2020): single-image denoising by Bernoulli sampling.

Training pairs come from the one noisy image ``y``: a Bernoulli mask ``b`` (keep
probability ``p``, 0.7) gives the input ``b * y``, and the loss is the squared error on the
dropped pixels only. The network (:class:`~napari_blind_denoise.core.nets.Self2SelfNet`)
encodes with partial convolutions, which see only the kept pixels, and decodes through
dropout. Prediction averages ``N`` stochastic passes, each with dropout on and a fresh
Bernoulli input; their per-pixel standard deviation is the ``uncertainty`` output.

Unknown pixels travel as NaN: a dropped pixel is NaN in the network's input, and so is a
known-corrupted one (NaN in the data, or excluded with
:func:`~napari_blind_denoise.core.data.exclude.exclude_pixels`): such pixels are never in
the input and never scored, and prediction fills them in (the paper's inpainting mode).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..config import DenoiseConfig, ModelConfig, Self2SelfConfig, TrainConfig
from ..nets import Self2SelfNet
from .base import Batch, BatchMaker, ExtraOutput, Inferrer, Method, OutputContext
from .blindspot import correlation_notice

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..trained import TrainedModel

# the paper's schedule: 150,000 Adam steps at 1e-4 on the whole image (one per step), 50
# passes; ~1.5-2 h per 256x256 image on a current GPU (our estimate, not measured here), about
# 47 h on 2 CPU cores (1.14 s per step measured; docs/results/2026-12-03-s2s-cpu-preset-256.txt)
PAPER = (ModelConfig(depth=5, base_channels=48),
         TrainConfig(steps=150_000, patch_size=256, batch_size=1, learning_rate=1e-4,
                     val_every=500),
         Self2SelfConfig(passes=50))
# a narrower network, smaller windows, a higher rate and fewer passes: a 256x256 image in
# 3 min 15 s on 2 CPU cores, end to end (measured; docs/benchmarks.md)
FAST = (ModelConfig(depth=5, base_channels=24),
        TrainConfig(steps=1500, patch_size=64, batch_size=4, learning_rate=1e-3),
        Self2SelfConfig(passes=16))
# passes of the live preview during training: a glance at the ensemble, a few times cheaper
PREVIEW_PASSES = 4


def bernoulli_input(x: torch.Tensor, keep: float, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` with each pixel kept with probability ``keep`` (the others NaN), and the mask
    of the dropped pixels that were known (1 = scored)."""
    known = torch.isfinite(x)
    kept = torch.rand(x.shape, generator=generator, device=generator.device) < keep
    kept = kept.to(x.device)
    nan = torch.full((), float("nan"), dtype=x.dtype, device=x.device)
    return torch.where(kept & known, x, nan), (~kept & known).to(x.dtype)


def ensemble_stats(model: nn.Module, x: torch.Tensor, s2s: Self2SelfConfig,
                   generator: torch.Generator, passes: int | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of ``passes`` (default ``s2s.passes``) stochastic passes
    over ``x`` ``(1, C, Y, X)``, ``s2s.pass_batch`` passes per batch, in one sweep.

    The batches are merged as they come (Chan et al.'s pairwise update of the running mean
    and of ``M2``, the sum of squared deviations from it), so the spread costs no second
    ensemble and stays accurate when it is tiny next to the mean (a sum of squares minus
    the squared sum would cancel in float32).
    """
    passes = s2s.passes if passes is None else passes
    mean = torch.zeros_like(x[0], dtype=torch.float32)
    m2 = torch.zeros_like(mean)
    done = 0
    while done < passes:
        k = min(s2s.pass_batch, passes - done)
        inp, _ = bernoulli_input(x.expand(k, *x.shape[1:]), s2s.keep_probability, generator)
        y = model(inp, generator=generator).float()
        batch_mean = y.mean(0)
        delta = batch_mean - mean
        total = done + k
        mean += delta * (k / total)
        m2 += (y - batch_mean).square().sum(0) + delta.square() * (done * k / total)
        done = total
    return mean[None], (m2 / passes).sqrt()[None]


class Self2Self(Method):
    """Self2Self with dropout (module docstring)."""

    id = "s2s"
    name = "Self2Self"
    description = ("Single image: Bernoulli-sampled inputs, partial convolutions and an "
                   "ensemble of dropout passes, with a per-pixel uncertainty "
                   "(Quan et al. 2020).")
    accepts_missing: ClassVar[bool] = True
    live_preview: ClassVar[bool] = True
    options = ("self2self", Self2SelfConfig)

    # -- configuration ----------------------------------------------------------------------
    def preset(self, name: str, model: ModelConfig, train: TrainConfig) -> dict[str, Any]:
        """``gpu``: the paper's network and schedule; ``cpu``: small and fast."""
        net, schedule, s2s = PAPER if name == "gpu" else FAST
        return {"model": net, "train": replace(schedule, seed=train.seed),
                "self2self": s2s}

    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """Measure the noise's spatial correlation: Bernoulli sampling hides single pixels,
        so correlated noise is learned as signal; the user is told (nothing changes)."""
        return config, correlation_notice(config, data, layout, self.name)

    # -- training ---------------------------------------------------------------------------
    def network(self, config: DenoiseConfig) -> nn.Module:
        """The partial-convolution encoder and dropout decoder."""
        return Self2SelfNet(config.model, self._s2s(config).dropout)

    def batch_maker(self, config: DenoiseConfig) -> BatchMaker:
        """A Bernoulli-sampled input against the window, scored on the dropped pixels."""
        keep = self._s2s(config).keep_probability

        def make(sources, generator: torch.Generator) -> Batch:
            noisy = sources[0]
            inp, dropped = bernoulli_input(noisy, keep, generator)
            return Batch(inp, torch.nan_to_num(noisy), dropped)

        return make

    # -- inference --------------------------------------------------------------------------
    def inference_modes(self, config: DenoiseConfig) -> tuple[str, ...]:
        """``ensemble`` (the paper's average of stochastic passes) or ``single`` (one
        deterministic pass with dropout off: fast, noisier)."""
        return ("ensemble", "single")

    def inferrer(self, trained: TrainedModel, mode: str) -> Inferrer:
        """The ensemble mean, or one deterministic pass."""
        self.check_mode(trained.config, mode)
        if mode == "single":
            return lambda model, x: model(x).float()
        return self.ensemble_inferrer(trained)

    def sequential_inference(self, config: DenoiseConfig, mode: str) -> str:
        """``ensemble``: the passes of every tile come from one seeded generator, in turn."""
        if mode != "ensemble":
            return ""
        return ("its ensemble draws every tile's passes from one seeded generator, tile "
                "after tile")

    def joint_inferrer(self, trained: TrainedModel, mode: str, names: tuple[str, ...]
                       ) -> Inferrer | None:
        """``ensemble``: the mean and the ``uncertainty`` from the same passes, one sweep."""
        self.check_mode(trained.config, mode)
        if mode != "ensemble" or names != ("uncertainty",):
            return None
        return self.ensemble_inferrer(trained, spread=True)

    def preview_inferrer(self, trained: TrainedModel) -> Inferrer:
        """A cheap ensemble: ``PREVIEW_PASSES`` passes (a live preview, not the result)."""
        return self.ensemble_inferrer(trained, passes=PREVIEW_PASSES)

    def ensemble_inferrer(self, trained: TrainedModel, *, mean: bool = True,
                          spread: bool = False, passes: int | None = None) -> Inferrer:
        """Per tile: the ensemble ``mean`` and/or (``spread``) its standard deviation, in
        that order along the channels, the spread offset so that the predictor's
        de-normalisation leaves it in intensity units.

        The passes' draws come from one generator seeded with ``self2self.seed`` and drawn
        tile by tile, so an image's mean and spread come from the same passes whether they
        are computed together or one after the other.
        """
        s2s = self._s2s(trained.config)
        offset = torch.as_tensor(np.asarray(trained.norm.low, np.float32)
                                 / _scale(trained)).view(1, -1, 1, 1)
        state: dict[str, torch.Generator] = {}

        def infer(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
            gen = state.get("gen")
            if gen is None or gen.device != x.device:
                gen = state["gen"] = torch.Generator(x.device).manual_seed(s2s.seed)
            avg, std = ensemble_stats(model, x, s2s, gen, passes)
            parts = ([avg] if mean else []) + ([std - offset.to(x.device)] if spread else [])
            return torch.cat(parts, dim=1)

        return infer

    def remedy(self, config: DenoiseConfig) -> str:
        """More steps or passes."""
        return ("train longer (--steps, --time-budget) or average more passes; on a GPU the "
                "gpu preset follows the paper")

    # -- outputs ----------------------------------------------------------------------------
    def outputs(self) -> tuple[ExtraOutput, ...]:
        """The per-pixel standard deviation across the ensemble passes."""
        return (ExtraOutput("uncertainty", "image", "uncertainty", "uncertainty",
                            _uncertainty, colormap="magma", joint=True),)

    @staticmethod
    def _s2s(config: DenoiseConfig) -> Self2SelfConfig:
        return config.self2self if config.self2self is not None else Self2SelfConfig()


def _scale(trained: TrainedModel) -> np.ndarray:
    return np.asarray(trained.norm.high, np.float32) - np.asarray(trained.norm.low, np.float32)


def _uncertainty(ctx: OutputContext, out):
    """The ensemble's per-pixel standard deviation (the same passes as the mean), computed
    on its own: used only when the denoised image did not come from the ensemble (the
    ``single`` mode); with the ``ensemble`` mode the pipeline gets it from the joint pass."""
    from ..predict import predict

    infer = ctx.trained.spec.ensemble_inferrer(ctx.trained, mean=False, spread=True)
    device = next(ctx.trained.model.parameters()).device
    yield from predict(ctx.trained, ctx.noisy, ctx.layout.axes, tile=ctx.tile, out=out,
                       device=device, inferrer=infer, stop=ctx.stop)
