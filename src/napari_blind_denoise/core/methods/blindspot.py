"""Noise2Void and Noise2Self: a UNet trained on masked pixels (blind spots made by masking).

Both share everything but the masker: Noise2Void hides random pixels behind a random
neighour (Krull et al. 2019); Noise2Self hides one phase of a regular grid behind the mean of
its four neighbours (Batson & Royer 2019), which also allows J-invariant inference (every
pixel predicted while hidden, ``inference="phases"``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from ..config import DenoiseConfig, MaskConfig, format_blind_spot
from ..data.patches import AXIS_PRESERVING, DIHEDRAL
from ..masking import BlindSpotMasker, GridMasker
from ..noise.correlation import estimate_noise_correlation
from .base import ExportedNetwork, Inferrer, Method, unet_export

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..masking import Masker
    from ..trained import TrainedModel

MAX_HIDE = 3  # the largest half-extent an automatic blind spot takes (a 7-pixel block)


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


class MaskedMethod(Method):
    """A denoiser trained on masked pixels; the masker follows ``config.mask.kind``."""

    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """``blind_spot="auto"``: shaped by the noise correlation measured on the image."""
        return auto_blind_spot(config, data, layout)

    def masker(self, config: DenoiseConfig) -> Masker:
        """``n2v``: random blind spots; ``n2s``: a J-invariant grid; each hiding the
        configured block."""
        mask = config.mask
        if mask.kind == "n2v":
            return BlindSpotMasker(mask.masked_fraction, mask.neighbourhood_radius, mask.hide)
        if mask.kind == "n2s":
            return GridMasker(mask.grid_period, mask.hide)
        raise ValueError(f"unknown mask kind {mask.kind!r}")

    def transforms(self, config: DenoiseConfig) -> tuple[int, ...]:
        """All 8 flips/rotations for a square blind spot; for an oblong one (noise correlated
        along one axis) only those keeping Y and X in place, since a 90° rotation would turn
        the X-correlated noise into Y-correlated noise the blind spot does not cover."""
        ey, ex = config.mask.hide
        return DIHEDRAL if ey == ex else AXIS_PRESERVING

    def remedy(self, config: DenoiseConfig) -> str:
        """A larger blind spot (noise correlated beyond the one used)."""
        spot = config.mask.blind_spot
        if spot == "pixel":
            return ("noise correlated between neighbouring pixels is learned as signal by a "
                    "one-pixel blind spot: try a larger blind spot (3x3 or 5x5; Advanced > "
                    "Blind spot in napari, --blind-spot on the command line)")
        return (f"the {spot} blind spot may be smaller than the noise's correlation: try a "
                "larger one (5x5 or 7x7)")

    def inference_modes(self, config: DenoiseConfig) -> tuple[str, ...]:
        """``unmasked`` (one pass); grid-masked models also ``phases`` (``grid_period**2``
        passes, each pixel predicted while hidden)."""
        return ("unmasked", "phases") if config.mask.kind == "n2s" else ("unmasked",)

    def inferrer(self, trained: TrainedModel, mode: str) -> Inferrer:
        """One pass, or the J-invariant average over the grid phases."""
        self.check_mode(trained.config, mode)
        if mode == "phases":
            mask = trained.config.mask
            return GridMasker(mask.grid_period, mask.hide).predict_hidden
        return super().inferrer(trained, mode)

    def export_network(self, trained: TrainedModel) -> ExportedNetwork:
        """The UNet, for its one-pass (``unmasked``) prediction."""
        note = ("" if "phases" not in self.inference_modes(trained.config) else
                "the package predicts in one pass; the phase-average inference is not in it")
        return unet_export(trained.model, trained.config.model, note)


class Noise2Void(MaskedMethod):
    """Noise2Void."""

    id = "n2v"
    name = "Noise2Void"
    description = ("Blind-spot masking: random pixels replaced by a random neighbour "
                   "(Krull et al. 2019).")
    citation: ClassVar[tuple[str, str]] = (
        "Krull, Buchholz & Jug. Noise2Void - Learning Denoising from Single Noisy Images. "
        "CVPR 2019.", "10.1109/CVPR.2019.00223")
    # 3% masked pixels: measured ~0.9 dB better than the paper's 0.2% at equal time
    mask: ClassVar[MaskConfig] = MaskConfig(kind="n2v", masked_fraction=0.03,
                                            neighbourhood_radius=2, blind_spot="auto")


class Noise2Self(MaskedMethod):
    """Noise2Self."""

    id = "n2s"
    name = "Noise2Self"
    description = ("J-invariant grid masking, masked pixels replaced by the mean of their "
                   "neighbours (Batson & Royer 2019).")
    citation: ClassVar[tuple[str, str]] = (
        "Batson & Royer. Noise2Self: Blind Denoising by Self-Supervision. ICML 2019.",
        "https://proceedings.mlr.press/v97/batson19a.html")
    mask: ClassVar[MaskConfig] = MaskConfig(kind="n2s", grid_period=4, blind_spot="auto")
