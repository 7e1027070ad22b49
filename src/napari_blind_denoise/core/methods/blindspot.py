"""Noise2Void and Noise2Self: a UNet trained on masked pixels (blind spots made by masking).

Both share everything but the masker: Noise2Void hides random pixels behind a random
neighour (Krull et al. 2019); Noise2Self hides one phase of a regular grid behind the mean of
its four neighbours (Batson & Royer 2019), which also allows J-invariant inference (every
pixel predicted while hidden, ``inference="phases"``).

Both can also train on pixel-shuffle sub-images (``config.mask.downsample``, AP-BSN): every
training window is split into ``s**2`` sub-images taken with stride ``s`` and those are
masked with a one-pixel blind spot; prediction is the plain pass at full resolution.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from ..config import BlendConfig, DenoiseConfig, MaskConfig, format_blind_spot
from ..data.patches import AXIS_PRESERVING, DIHEDRAL
from ..errors import InputError
from ..masking import (
    BlindSpotMasker,
    GridMasker,
    VolumeBlindSpotMasker,
    VolumeGridMasker,
    split_subimages,
)
from ..noise.correlation import estimate_noise_correlation
from .base import (
    Batch,
    BatchMaker,
    ExportedNetwork,
    Inferrer,
    Method,
    NotExportable,
    unet_export,
)

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..masking import Masker
    from ..trained import TrainedModel

MAX_HIDE = 3  # the largest half-extent an automatic blind spot takes (a 7-pixel block)
MIN_SUBIMAGE = 16  # smallest pixel-shuffle sub-image edge trained on
# The smallest stride ``downsample="auto"`` takes on correlated noise. Stride 2 keeps lag-2
# neighbours in a sub-image, whose correlation (0.17 for the 3-tap binomial kernel) is under
# the estimator's 0.2 threshold but not negligible: on the tuning image (HeLa channel 1) n2s
# with stride 2 reached 23.5 / 24.1 dB, with stride 3 29.8 / 26.9 dB (scan-line / resampled
# noise; docs/results/2026-12-02-pixel-shuffle-tuning.jsonl).
MIN_AUTO_STRIDE = 3
# The smallest grid period of n2s with a blind-spot block. With the plain period (4, raised to
# just fit the block: 6 for 5x5) two thirds of every training window are hidden behind ring
# means, far from the full images the network sees at prediction. Tuned on HeLa channel 1
# (700 steps; docs/results/2026-12-02-n2s-grid-tuning.jsonl): periods 4, 8, 12, 16, 20 gave
# 29.39, 29.96, 30.29, 29.04, 29.59 dB on scan-line noise and 27.20, 27.34, 28.36, 28.11,
# 27.72 dB on resampled noise.
BLOCK_GRID_PERIOD = 12


def auto_blind_spot(config: DenoiseConfig, data, layout: Layout
                    ) -> tuple[DenoiseConfig, dict[str, Any]]:
    """Resolve ``blind_spot="auto"``: measure the noise correlation and hide the correlated
    neighbours plus one pixel of margin on each axis (``pixel`` when the noise is
    independent).

    The margin: the measured extent counts lags above 0.2 and misses weaker tails, and at
    full-resolution inference a block that spans several rows and columns lets the network
    average over neighbours whose noise is independent. Tuned on one HeLa channel with
    synthetic scan-line and resampled noise: with the margin (3x7, 5x5) n2s gained 1.3 and
    2.7 dB, n2v 2.0 and 0.5 dB over the extent alone (1x5, 3x3);
    docs/results/2026-12-01-blind-spot-margin-tuning.txt.
    """
    if config.mask.blind_spot != "auto":
        return config, {"blind_spot": config.mask.blind_spot}
    corr = estimate_noise_correlation(data, layout, seed=config.train.seed)
    hide = (0, 0) if corr.independent else tuple(min(e + 1, MAX_HIDE) for e in corr.extent)
    spot = format_blind_spot(hide)
    config = replace(config, mask=replace(config.mask, blind_spot=spot))
    what = "one-pixel" if spot == "pixel" else spot.replace("x", "×")
    return config, {"noise_correlation": corr.to_dict(), "blind_spot": spot,
                    "notice": f"{corr.describe()}: using a {what} blind spot"}


def auto_downsample(config: DenoiseConfig, data, layout: Layout
                    ) -> tuple[DenoiseConfig, dict[str, Any]]:
    """Resolve ``downsample`` (``"auto"`` or a stride): measure the noise correlation; the
    stride ``auto`` takes is the extent along the longer axis plus one (neighbours in a
    sub-image must be farther apart than the noise is correlated), at least
    :data:`MIN_AUTO_STRIDE`, and ``1`` when the noise is independent. A stride above 1
    replaces the blind-spot block by a one-pixel blind spot and sets the training windows
    (:func:`shuffle_windows`); ``info["pixel_shuffle"]`` then records them, with a
    ``summary`` ("pixel-shuffle stride 3") shown with the model.
    """
    corr = estimate_noise_correlation(data, layout, seed=config.train.seed)
    stride = config.mask.downsample
    if stride == "auto":
        stride = 1 if corr.independent else max(max(corr.extent) + 1, MIN_AUTO_STRIDE)
    config = replace(config, mask=replace(config.mask, blind_spot="pixel", downsample=stride))
    info: dict[str, Any] = {"noise_correlation": corr.to_dict(), "blind_spot": "pixel",
                            "downsample": stride}
    if stride == 1:
        return config, {**info, "notice": f"{corr.describe()}: using a one-pixel blind spot"}
    config = shuffle_windows(config, layout)
    window, batch = config.train.patch_size, config.train.batch_size
    info["pixel_shuffle"] = {"stride": stride, "window": window, "windows_per_step": batch,
                             "summary": f"pixel-shuffle stride {stride}"}
    return config, {**info, "notice": (
        f"{corr.describe()}: using pixel-shuffle stride {stride} (each {window}-px training "
        f"window split into {stride * stride} sub-images, one-pixel blind spot; prediction "
        "at full resolution)")}


def shuffle_windows(config: DenoiseConfig, layout: Layout) -> DenoiseConfig:
    """Training windows for pixel-shuffle stride ``s``: sub-images of half the configured
    patch (a multiple of the network's divisor, at most what the plane holds), windows of
    ``s`` sub-images' edge, and ``batch_size * 4 / s**2`` of them, so a step sees as many
    pixels as without downsampling (the default 16 windows of 64 px: 7 windows of 96 px at
    ``s = 3``).

    Raises
    ------
    InputError
        The plane cannot hold a window of ``s`` sub-images of ``MIN_SUBIMAGE`` pixels.
    """
    s, train, div = config.mask.stride, config.train, config.model.divisor
    sub = max(div, train.patch_size // 2 // div * div)
    sub = min(sub, min(layout.height, layout.width) // s // div * div)
    smallest = max(MIN_SUBIMAGE, div)
    if sub < smallest:
        raise InputError(f"the image plane is {layout.height}x{layout.width} pixels, too small "
                         f"for pixel-shuffle stride {s} (windows of at least {s * smallest} px); "
                         "use a smaller stride")
    batch = max(1, train.batch_size * 4 // (s * s))
    return replace(config, train=replace(train, patch_size=s * sub, batch_size=batch))


def correlation_notice(config: DenoiseConfig, data, layout: Layout, name: str
                       ) -> dict[str, Any]:
    """For a method whose blind spot cannot grow: measure the noise correlation and, when
    there is any, tell the user that ``name`` will learn it as signal."""
    corr = estimate_noise_correlation(data, layout, seed=config.train.seed)
    info: dict[str, Any] = {"noise_correlation": corr.to_dict()}
    if not corr.independent:
        info["notice"] = (f"{corr.describe()}: {name} assumes pixel-independent noise and may "
                          "keep this noise; Noise2Void and Noise2Self (n2v, n2s) shape their "
                          "blind spot to it")
    return info


def refuse_3d_export(method: Method, trained: TrainedModel) -> None:
    """Refuse to export a 3-D model (model packages hold 2-D networks only, for now).

    Raises
    ------
    NotExportable
        ``trained`` is a 3-D network.
    """
    if trained.config.model.dims == 3:
        raise NotExportable(f"{method.name} ({method.id}) 3-D models cannot be exported as a "
                            "model package yet; train with dims 2 to export")


class MaskedMethod(Method):
    """A denoiser trained on masked pixels; the masker follows ``config.mask.kind``.

    With a 3-D network (``config.model.dims == 3``) the maskers hide voxels of
    ``(B, C, Z, Y, X)`` windows (``core.masking.volume``): a blind-spot block measured from
    the noise correlation keeps its Y/X shape and is one plane deep.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """``blind_spot="auto"``: shaped by the noise correlation measured on the image;
        ``downsample`` other than 1: the pixel-shuffle stride instead (:func:`auto_downsample`);
        ``downsample="auto"`` acts only with ``blind_spot="auto"`` (a blind spot the user
        chose is kept, with stride 1)."""
        if config.mask.downsample == "auto" and config.mask.blind_spot != "auto":
            config = replace(config, mask=replace(config.mask, downsample=1))
        if config.mask.downsample != 1:
            return auto_downsample(config, data, layout)
        return auto_blind_spot(config, data, layout)

    def masker(self, config: DenoiseConfig) -> Masker:
        """``n2v``: random blind spots; ``n2s``: a J-invariant grid; each hiding the
        configured block."""
        mask, volume = config.mask, config.model.dims == 3
        if mask.kind == "n2v":
            cls = VolumeBlindSpotMasker if volume else BlindSpotMasker
            return cls(mask.masked_fraction, mask.neighbourhood_radius, mask.hide)
        if mask.kind == "n2s":
            return (VolumeGridMasker if volume else GridMasker)(mask.grid_period, mask.hide)
        raise ValueError(f"unknown mask kind {mask.kind!r}")

    def batch_maker(self, config: DenoiseConfig) -> BatchMaker:
        """The masked window against the window; with a pixel-shuffle stride ``s > 1`` the
        masked stride-``s`` sub-images of every window against those sub-images."""
        stride = config.mask.stride
        if stride == 1:
            return super().batch_maker(config)
        masker = self.masker(config)

        def make(sources: Sequence[torch.Tensor], generator: torch.Generator) -> Batch:
            sub = split_subimages(sources[0], stride)
            masked = masker(sub, generator)
            return Batch(masked.input, sub, masked.mask)

        return make

    def transforms(self, config: DenoiseConfig) -> tuple[int, ...]:
        """All 8 flips/rotations for a square blind spot; for an oblong one (noise correlated
        along one axis) only those keeping Y and X in place, since a 90° rotation would turn
        the X-correlated noise into Y-correlated noise the blind spot does not cover."""
        ey, ex = config.mask.hide
        return DIHEDRAL if ey == ex else AXIS_PRESERVING

    def auto_tta(self, config: DenoiseConfig, mode: str) -> bool:
        """The one-pass inference: measured +0.04 to +0.52 dB on correlated and independent
        noise for 4-8x a cheap pass (docs/benchmarks.md, "Test-time augmentation"); not the
        phase average, already ``grid_period**2`` passes."""
        return mode == "unmasked"

    def remedy(self, config: DenoiseConfig) -> str:
        """A larger blind spot (noise correlated beyond the one used)."""
        spot, stride = config.mask.blind_spot, config.mask.downsample
        if stride != 1:
            return (f"the pixel-shuffle stride {stride} may be shorter than the noise's "
                    "correlation: try a larger stride (--downsample, Advanced > Downsample in "
                    "napari) or the blind-spot block instead (downsample 1, blind spot auto)")
        if spot == "pixel":
            return ("noise correlated between neighbouring pixels is learned as signal by a "
                    "one-pixel blind spot: try a larger blind spot (3x3 or 5x5; Advanced > "
                    "Blind spot in napari, --blind-spot on the command line)")
        return (f"the {spot} blind spot may be smaller than the noise's correlation: try a "
                "larger one (5x5 or 7x7)")

    def inference_modes(self, config: DenoiseConfig) -> tuple[str, ...]:
        """``unmasked`` (one pass); grid-masked models also ``phases`` (``grid_period**2``
        passes, each pixel predicted while hidden), except those trained on pixel-shuffle
        sub-images, which predict in one full-resolution pass (AP-BSN's asymmetric
        inference)."""
        if config.mask.kind == "n2s" and config.mask.downsample == 1:
            return ("unmasked", "phases")
        return ("unmasked",)

    def inferrer(self, trained: TrainedModel, mode: str) -> Inferrer:
        """One pass (blended with the calibrated filter when ``config.blend`` is active,
        :mod:`.blend`), or the J-invariant average over the grid phases (the network
        alone)."""
        self.check_mode(trained.config, mode)
        if mode == "phases":
            return self.masker(trained.config).predict_hidden
        infer = super().inferrer(trained, mode)
        blend = trained.config.blend
        if blend is not None and blend.active:
            from .blend import blended

            return blended(infer, trained.config)
        return infer

    def finish(self, trained: TrainedModel, data, layout: Layout, *,
               stop: threading.Event | None = None) -> TrainedModel:
        """With ``config.blend`` in ``auto`` mode: calibrate the filter and the network's
        weight of the blend (:func:`.blend.calibrate_blend`, seconds), recorded in
        ``info["blend"]`` (``"stopped"`` when a stop request ended it, or why it does not
        apply)."""
        blend = trained.config.blend
        if blend is None or blend.mode == "off" or blend.weight is not None:
            return trained
        from .blend import calibrate_blend, unavailable

        why = unavailable(trained.config)
        if why:
            trained.info["blend"] = {"skipped": why}
            return trained
        found = None if stop is not None and stop.is_set() else calibrate_blend(
            trained, data, layout, stop)
        if found is None:
            trained.info["blend"] = "stopped"
            return trained
        trained.config, trained.info["blend"] = found
        return trained

    def export_network(self, trained: TrainedModel) -> ExportedNetwork:
        """The UNet, for its one-pass (``unmasked``) prediction (2-D models only)."""
        refuse_3d_export(self, trained)
        notes = []
        if "phases" in self.inference_modes(trained.config):
            notes.append("the package predicts in one pass; the phase-average inference is "
                         "not in it")
        blend = trained.config.blend
        if blend is not None and blend.active:
            from .blend import describe

            notes.append("the package holds the network alone: here its output is "
                         f"{describe(trained.config)}")
        return unet_export(trained.model, trained.config.model, "; ".join(notes))


class Noise2Void(MaskedMethod):
    """Noise2Void."""

    id = "n2v"
    downsamples = True
    name = "Noise2Void"
    description = ("Blind-spot masking: random pixels replaced by a random neighbour "
                   "(Krull et al. 2019).")
    citation: ClassVar[tuple[str, str]] = (
        "Krull, Buchholz & Jug. Noise2Void - Learning Denoising from Single Noisy Images. "
        "CVPR 2019.", "10.1109/CVPR.2019.00223")
    # 3% masked pixels: measured ~0.9 dB better than the paper's 0.2% at equal time
    mask: ClassVar[MaskConfig] = MaskConfig(kind="n2v", masked_fraction=0.03,
                                            neighbourhood_radius=2, blind_spot="auto")
    options = ("blend", BlendConfig)


class Noise2Self(MaskedMethod):
    """Noise2Self."""

    id = "n2s"
    downsamples = True
    name = "Noise2Self"
    description = ("J-invariant grid masking, masked pixels replaced by the mean of their "
                   "neighbours (Batson & Royer 2019).")
    citation: ClassVar[tuple[str, str]] = (
        "Batson & Royer. Noise2Self: Blind Denoising by Self-Supervision. ICML 2019.",
        "https://proceedings.mlr.press/v97/batson19a.html")
    mask: ClassVar[MaskConfig] = MaskConfig(kind="n2s", grid_period=4, blind_spot="auto")
    options = ("blend", BlendConfig)

    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """As :meth:`MaskedMethod.adapt`; with a blind-spot block the grid is sparser
        (period at least :data:`BLOCK_GRID_PERIOD`), recorded in ``info["grid_period"]``."""
        config, info = super().adapt(config, data, layout)
        if config.mask.hide != (0, 0) and config.mask.grid_period < BLOCK_GRID_PERIOD:
            config = replace(config, mask=replace(config.mask, grid_period=BLOCK_GRID_PERIOD))
            info = {**info, "grid_period": BLOCK_GRID_PERIOD}
        return config, info
