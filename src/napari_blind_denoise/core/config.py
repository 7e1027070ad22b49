"""Frozen, keyword-only configuration objects, one per concern.

Each config validates itself in ``__post_init__`` and round-trips through
``dataclasses.asdict`` / ``from_dict`` so it can be stored in checkpoint JSON.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, Self, get_args

MaskKind = Literal["n2v", "n2s"]
ChannelMode = Literal["joint", "separate"]
CHANNEL_MODES: tuple[ChannelMode, ...] = get_args(ChannelMode)
NoiseKind = Literal["gaussian", "gmm2", "gmm3", "poisson-gaussian", "impulse"]
NoiseFit = Literal["learn", "estimate", "network"]
# every kind of learned noise model; each method accepts some (Method.noise_model_kinds)
NOISE_MODEL_KINDS: tuple[str, ...] = ("gaussian", "gmm2", "gmm3", "poisson-gaussian",
                                      "impulse")


class _FromDict:
    """``from_dict``: the inverse of ``dataclasses.asdict`` for a flat config, refusing
    unknown fields."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from a dict produced by ``asdict``."""
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True, kw_only=True)
class MaskConfig(_FromDict):
    """How pixels are hidden from the network during training.

    Parameters
    ----------
    kind
        ``"n2v"``: random blind spots replaced by a random neighbour (never the pixel itself).
        ``"n2s"``: a J-invariant regular grid (random phase per batch), masked pixels replaced
        by the mean of their four direct neighbours.
    masked_fraction
        Fraction of pixels masked per patch for ``n2v`` (Noise2Void paper default 0.2%).
    neighbourhood_radius
        ``n2v`` replacement values are drawn from a ``(2r+1)^2`` window around the pixel.
    grid_period
        ``n2s`` grid spacing in pixels; ``1/grid_period**2`` of pixels are masked per batch.
    blind_spot
        What is hidden around each masked pixel: ``"pixel"`` (the pixel alone), a block
        ``"HxW"`` of odd sizes (``"1x5"``: two neighbours either side along X, for noise
        correlated along the scan line), or ``"auto"``: chosen when training starts from
        the noise correlation measured on the image (``core.noise.correlation``), ``pixel``
        when the noise is independent. A trained model records the block it used.
    downsample
        Pixel-shuffle downsampling (AP-BSN, Lee et al. 2022), for methods that support it
        (``n2v``, ``n2s``): ``1`` (off, the default), a stride ``s >= 2`` (every training
        window is split into ``s**2`` sub-images taken with stride ``s``, masked with a
        one-pixel blind spot; prediction stays at full resolution), or ``"auto"``: the
        measured noise correlation's extent plus one along its longer axis (at least 3) when
        the noise is correlated, ``1`` when it is independent; ``"auto"`` acts only with
        ``blind_spot="auto"`` and means 1 with a blind spot set by the user. With a stride
        ``s >= 2`` the blind spot must be ``"auto"`` or ``"pixel"`` (the stride replaces
        the block). A trained model records
        the stride it used; models saved before this option load with ``1``.
    """

    kind: MaskKind = "n2v"
    masked_fraction: float = 0.002
    neighbourhood_radius: int = 2
    grid_period: int = 4
    blind_spot: str = "pixel"
    downsample: int | str = 1

    @property
    def hide(self) -> tuple[int, int]:
        """``(ey, ex)`` half-extent of the hidden block (``auto`` must be resolved first)."""
        return parse_blind_spot(self.blind_spot)

    def __post_init__(self) -> None:
        if self.kind not in ("n2v", "n2s"):
            raise ValueError(f"mask kind must be 'n2v' or 'n2s', got {self.kind!r}")
        if not 0.0 < self.masked_fraction <= 0.5:
            raise ValueError("masked_fraction must be in (0, 0.5]")
        if self.neighbourhood_radius < 1:
            raise ValueError("neighbourhood_radius must be >= 1")
        if self.grid_period < 2:
            raise ValueError("grid_period must be >= 2")
        if self.blind_spot != "auto":
            parse_blind_spot(self.blind_spot)
        object.__setattr__(self, "downsample", parse_downsample(self.downsample))
        if self.downsample not in (1, "auto") and self.blind_spot not in ("auto", "pixel"):
            raise ValueError(f"pixel-shuffle downsampling (downsample={self.downsample}) "
                             f"replaces the {self.blind_spot} blind spot: use blind spot "
                             "'auto' or 'pixel' with it, or downsample 1")

    @property
    def stride(self) -> int:
        """The pixel-shuffle stride (``auto`` must be resolved first)."""
        if self.downsample == "auto":
            raise ValueError("downsample 'auto' is resolved from the data when training starts")
        return int(self.downsample)


def parse_downsample(value: int | str) -> int | str:
    """``"auto"`` or a stride ``>= 1`` (an int or its text) -> ``"auto"`` or the int.

    Raises
    ------
    ValueError
        Anything else (``0``, negative numbers, ``"2.5"``, ``True``...).
    """
    stride = value
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        stride = int(text) if text.isdigit() else 0
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"downsample must be 'auto' or a whole number >= 1 (1: off), "
                         f"got {value!r}")
    return stride


def parse_blind_spot(text: str) -> tuple[int, int]:
    """``"pixel"`` -> ``(0, 0)``; ``"HxW"`` (odd H, W) -> ``((H-1)/2, (W-1)/2)``.

    Raises
    ------
    ValueError
        Anything else (``"auto"`` included: it is resolved from the data, not parsed).
    """
    if text == "pixel":
        return (0, 0)
    parts = text.lower().replace("×", "x").split("x")
    try:
        h, w = (int(p) for p in parts)
    except ValueError:
        h = w = 0
    if len(parts) != 2 or h < 1 or w < 1 or h % 2 == 0 or w % 2 == 0 or max(h, w) > 15:
        raise ValueError(f"blind spot must be 'auto', 'pixel' or 'HxW' with odd H, W up to 15 "
                         f"(e.g. '1x5'), got {text!r}")
    return ((h - 1) // 2, (w - 1) // 2)


def format_blind_spot(hide: tuple[int, int]) -> str:
    """Inverse of :func:`parse_blind_spot`."""
    return "pixel" if hide == (0, 0) else f"{2 * hide[0] + 1}x{2 * hide[1] + 1}"


@dataclass(frozen=True, kw_only=True)
class ModelConfig(_FromDict):
    """UNet architecture.

    Parameters
    ----------
    depth
        Number of down-sampling levels; spatial sizes are padded to a multiple of ``2**depth``.
    base_channels
        Feature channels at full resolution, doubled at every level.
    batch_norm
        Insert batch normalisation after every convolution.
    residual
        Predict a correction added to the input (output = input + net(input)). Off by default:
        with blind-spot training it cost ~0.9 dB at equal steps (docs/benchmarks.md).
    in_channels, out_channels
        Image channels (the ``C`` axis, 1 when absent).
    dims
        Spatial dimensions of the network: ``2`` (planes ``(B, C, Y, X)``; a stack's Z planes
        denoised one by one), ``3`` (volumes ``(B, C, Z, Y, X)``, for ZYX data) or
        ``"auto"``: 3 for ZYX data with at least ``AUTO_MIN_DEPTH`` Z planes when the method
        has a 3-D network, else 2 (``core.volume.resolve_dims``; a trained model records 2
        or 3; models saved before this option load as 2-D).
    yx_levels
        3-D networks: how many of the first pooling levels pool only Y and X (kernel
        ``(1, 2, 2)``), for voxels longer in Z than in Y/X. ``None``: chosen from the voxel
        spacing when training starts (0 without one).
    channels
        Images with several channels (a ``C`` axis): ``"joint"``, one network whose input
        and output channels are the image's; ``"separate"``, one model per channel, each
        trained on that channel alone and predicting it (``core.channels``; the training
        budget is shared). One channel: the same either way. The presets' choice is
        ``core.channels.DEFAULT_CHANNELS``; models saved before this option load as
        ``"joint"``, what they are.
    """

    depth: int = 2
    base_channels: int = 16
    batch_norm: bool = False
    residual: bool = False
    in_channels: int = 1
    out_channels: int = 1
    dims: int | str = 2
    yx_levels: int | None = None
    channels: ChannelMode = "joint"

    def __post_init__(self) -> None:
        if not 1 <= self.depth <= 6:
            raise ValueError("depth must be between 1 and 6")
        if self.base_channels < 1:
            raise ValueError("base_channels must be >= 1")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("channel counts must be >= 1")
        if self.residual and self.in_channels != self.out_channels:
            raise ValueError("residual output needs in_channels == out_channels")
        if isinstance(self.dims, str) and self.dims.strip().isdigit():
            object.__setattr__(self, "dims", int(self.dims))
        if self.dims not in ("auto", 2, 3) or isinstance(self.dims, bool):
            raise ValueError(f"dims must be 'auto', 2 or 3, got {self.dims!r}")
        if self.yx_levels is not None and not 0 <= self.yx_levels <= self.depth:
            raise ValueError("yx_levels must be between 0 and depth")
        if self.channels not in CHANNEL_MODES:
            raise ValueError(f"channels must be one of {list(CHANNEL_MODES)}, "
                             f"got {self.channels!r}")

    @property
    def divisor(self) -> int:
        """Y and X sizes fed to the network must be a multiple of this."""
        return 2**self.depth

    @property
    def z_divisor(self) -> int:
        """Z sizes fed to a 3-D network must be a multiple of this (the levels that pool
        only Y and X do not halve Z)."""
        return 2 ** (self.depth - (self.yx_levels or 0))


@dataclass(frozen=True, kw_only=True)
class TrainConfig(_FromDict):
    """Optimisation, sampling and stopping.

    Training stops at ``steps`` optimiser steps or after ``time_budget`` seconds,
    whichever comes first. The learning-rate schedule (linear warm-up, then cosine decay)
    follows whichever budget is closer to exhausted, so a wall-clock budget still ends at
    a low learning rate. The kept model is the newest one whose validation loss is within
    ``select_tolerance`` (relative) of the lowest seen: validation losses on masked noisy
    pixels barely move while quality still improves, so the plain minimum picks an
    arbitrary early model. ``ema_decay`` (e.g. 0.995) validates and keeps an exponential moving
    average of the weights instead of the raw weights. ``patch_size`` is the Y/X edge of a
    training window; 3-D networks train on windows ``patch_depth`` planes deep (fewer when
    the stack is shallower).
    """

    steps: int = 2000
    time_budget: float | None = None
    patch_size: int = 64
    patch_depth: int = 16
    batch_size: int = 16
    learning_rate: float = 3e-3
    warmup_fraction: float = 0.05
    final_lr_fraction: float = 0.02
    weight_decay: float = 0.0
    augment: bool = True
    val_patches: int = 16
    val_every: int = 25
    seed: int = 0
    channels_last: bool = True
    ema_decay: float | None = None
    select_tolerance: float = 0.01

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError("steps must be >= 1")
        if self.time_budget is not None and self.time_budget <= 0:
            raise ValueError("time_budget must be > 0 seconds")
        if self.patch_size < 8 or self.patch_depth < 1:
            raise ValueError("patch_size must be >= 8 and patch_depth >= 1")
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be > 0")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError("warmup_fraction must be in [0, 1)")
        if self.val_every < 1:
            raise ValueError("val_every must be >= 1")
        if self.select_tolerance < 0:
            raise ValueError("select_tolerance must be >= 0")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in (0, 1) or None")


@dataclass(frozen=True, kw_only=True)
class TileConfig(_FromDict):
    """Prediction options: tile edge, overlap between neighbouring tiles, batch of tiles, and
    ``tta`` (test-time augmentation: the average over the flips/rotations the method trained
    with, 4 or 8 times the prediction time; docs/benchmarks.md has its measured gain):
    ``True``, ``False`` or ``"auto"`` (on when the method's single-pass inference gains from
    it and the image is small enough for the extra passes to be cheap,
    :func:`~napari_blind_denoise.core.predict.resolve_tta`; the CLI's and the widget's
    default).

    ``memory_budget``: MB that prediction may hold in RAM at once, whatever the size of the
    stack (``None``: a quarter of the memory available when it starts, at least 256 MB); the
    tile edge is lowered when ``tile_size`` would need more (``core.memory`` says what is
    counted)."""

    tile_size: int = 512
    overlap: int = 48
    batch_size: int = 1
    tta: bool | str = False
    memory_budget: float | None = None

    @classmethod
    def for_size(cls, tile_size: int, *, tta: bool | str = False,
                 memory_budget: float | None = None) -> TileConfig:
        """Tiles of edge ``tile_size`` with the default overlap (a quarter, at most 48)."""
        return cls(tile_size=tile_size, overlap=min(48, tile_size // 4), tta=tta,
                   memory_budget=memory_budget)

    def __post_init__(self) -> None:
        if self.tile_size < 16:
            raise ValueError("tile_size must be >= 16")
        if not 0 <= 2 * self.overlap < self.tile_size:
            raise ValueError("overlap must be >= 0 and less than half the tile size")
        if self.memory_budget is not None and not self.memory_budget > 0:
            raise ValueError("memory_budget must be a positive number of MB")
        if self.tta not in (True, False, "auto"):
            raise ValueError(f"tta must be True, False or 'auto', not {self.tta!r}")


NOISE_FITS: tuple[NoiseFit, ...] = get_args(NoiseFit)


@dataclass(frozen=True, kw_only=True)
class NoiseModelConfig(_FromDict):
    """The learned noise model of ``nnet`` (the N-net) or ``bsn``: distribution of ``Y - X``
    given ``X``.

    Parameters
    ----------
    kind
        ``"gaussian"`` (default): one zero-mean Gaussian (the paper's "G1"; for ``bsn`` one
        learned std per channel); ``"gmm2"`` / ``"gmm3"`` (``nnet``): a mixture of 2 or 3
        Gaussians (weights, means, stds), centred to zero mean. The default denoised best in
        our benchmark; the mixtures fit skewed noise (low photon counts) better
        (docs/methods.md). ``"poisson-gaussian"`` (``bsn``): variance ``a * signal + b``,
        ``a`` and ``b`` learned. ``"impulse"`` (``bsn``): a fraction ``alpha`` (learned) of
        the pixels replaced by values uniform over the data's range, the others clean plus
        a small Gaussian noise (variance ``b``, learned).
    hidden
        Width of the pixel-wise MLP (1x1 convolutions) mapping the signal value to the
        noise parameters.
    min_std
        Floor of every component's standard deviation, in normalised units (the data's
        0.5-99.5 percentile range is 1); keeps the likelihood finite on flat patches.
    lr_scale
        The N-net's learning rate relative to the D-net's. The N-net is small and its stds
        must travel far from their initial value (noise std from below 1 % to over 10 % of
        the range); at the D-net's rate it lagged behind the denoiser (docs/benchmarks.md).
    calibrate
        After training, measure the D-net's own error by re-noising its output and remove
        it from the noise model (``core.noise_calibration``); the learned curve otherwise
        counts that error as noise where the signal is hard to predict.
    sigma
        A known noise standard deviation, input intensity units: the Gaussian noise of
        ``bsn`` fixed at it instead of learned (``None``: learned). Methods refuse it where
        it has no meaning (:meth:`Method.check_noise_kind`).
    fit
        ``"learn"``: the noise parameters are learned with the network (from a start
        estimated on the data); ``"estimate"`` (``bsn``, ``gaussian`` and
        ``poisson-gaussian``): they are estimated from the noisy data when training starts
        (neighbouring pixels' differences against their level) and held there. ``bsn``'s
        default for ``poisson-gaussian``: at CPU budgets the learned curve drifted below the
        noise and the posterior then handed noise back (docs/methods.md). ``"network"``
        (``bsn``, ``gaussian`` and ``poisson-gaussian``): a small auxiliary network
        estimates them per image from its noisy pixels (each training window, each
        predicted tile), learned with the prior network from the same start; for data
        whose noise level changes from image to image (exposure, gain).
    """

    kind: NoiseKind = "gaussian"
    hidden: int = 32
    min_std: float = 1e-3
    lr_scale: float = 10.0
    calibrate: bool = True
    sigma: float | None = None
    fit: NoiseFit = "learn"

    def __post_init__(self) -> None:
        if self.fit not in NOISE_FITS:
            raise ValueError(f"noise fit must be one of {NOISE_FITS}, got {self.fit!r}")
        if self.fit != "learn" and self.sigma is not None:
            raise ValueError(f"a known noise sigma is not estimated: give the sigma or "
                             f"fit={self.fit!r}, not both")
        if self.kind not in NOISE_MODEL_KINDS:
            raise ValueError(f"noise model kind must be one of {NOISE_MODEL_KINDS}, "
                             f"got {self.kind!r}")
        if self.hidden < 1:
            raise ValueError("hidden must be >= 1")
        if not 0.0 < self.min_std < 1.0:
            raise ValueError("min_std must be in (0, 1)")
        if not self.lr_scale > 0:
            raise ValueError("lr_scale must be > 0")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"a known noise sigma must be > 0, got {self.sigma}")

    @property
    def components(self) -> int:
        """Number of components of the noise mixture (1, 2 or 3; ``impulse``: 2, the
        Gaussian and the uniform impulses)."""
        if self.kind == "impulse":
            return 2
        return int(self.kind[-1]) if self.kind.startswith("gmm") else 1


@dataclass(frozen=True, kw_only=True)
class Self2SelfConfig(_FromDict):
    """Self2Self (``s2s``, Quan et al. 2020): Bernoulli-sampled inputs and a dropout ensemble.

    Parameters
    ----------
    keep_probability
        Each pixel is kept in the network's input with this probability (paper: 0.7); the
        loss scores the dropped ones.
    dropout
        Dropout rate of the decoder's convolutions, in training and in the ensemble passes
        (paper: 0.3).
    passes
        Stochastic passes averaged at prediction, each with dropout on and a fresh Bernoulli
        input (paper: 50).
    pass_batch
        Passes run together as one batch (memory against speed).
    seed
        Seed of the passes' random draws, so a model predicts the same twice.
    """

    keep_probability: float = 0.7
    dropout: float = 0.3
    passes: int = 50
    pass_batch: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.keep_probability < 1.0:
            raise ValueError("keep_probability must be in (0, 1)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.passes < 1 or self.pass_batch < 1:
            raise ValueError("passes and pass_batch must be >= 1")


CLASSICAL_FAMILIES: tuple[str, ...] = ("gaussian", "tv", "wavelet", "nlm", "bm3d")


@dataclass(frozen=True, kw_only=True)
class ClassicalConfig(_FromDict):
    """The calibrated classical filter (``classical``): which filters are tried, how the
    self-supervised loss is measured, and the filter chosen (set by the calibration).

    Parameters
    ----------
    families
        Filter families tried, cheapest first (``gaussian``, ``tv``, ``wavelet``, ``nlm``,
        ``bm3d``); ``wavelet`` needs PyWavelets and ``bm3d`` the ``bm3d`` package, and are
        skipped without them.
    crop
        Edge of the central window of each plane the loss is measured on (pixels).
    planes
        Planes of a stack the loss is measured on (spread evenly).
    phases
        Grid phases of the J-invariant partition scored per candidate (of its ``py * px``).
    significance
        A filter of another family replaces the first family's (the Gaussian blur) only when
        its loss is lower by at least this many standard errors (paired over 32-pixel tiles).
    filter, params
        The chosen family and its parameters (normalised intensity units); empty until
        calibrated.
    """

    families: tuple[str, ...] = CLASSICAL_FAMILIES
    crop: int = 256
    planes: int = 3
    phases: int = 4
    significance: float = 4.0
    filter: str = ""
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "families", tuple(self.families))
        unknown = set(self.families) - set(CLASSICAL_FAMILIES)
        if unknown or not self.families:
            raise ValueError(f"classical families must be among {CLASSICAL_FAMILIES}, "
                             f"got {list(self.families)}")
        if self.filter and self.filter not in CLASSICAL_FAMILIES:
            raise ValueError(f"unknown classical filter {self.filter!r}")
        if self.crop < 16 or self.planes < 1 or self.phases < 1:
            raise ValueError("crop must be >= 16, planes and phases >= 1")


BLEND_MODES = ("auto", "off")


@dataclass(frozen=True, kw_only=True)
class BlendConfig(_FromDict):
    """The network's output blended with a calibrated classical filter's (``n2v``, ``n2s``).

    After training, a filter of ``families`` is calibrated by the J-invariant loss on the
    network's own partition (its blind spot), and the weight of the network is the one that
    minimises the same loss for the blend of the two (a least-squares fit, clipped to
    [0, 1]; ``core.methods.blend``). The prediction is then ``weight * network + (1 -
    weight) * filter``.

    Parameters
    ----------
    mode
        ``auto`` (calibrate after training) or ``off`` (the network alone).
    families
        The filter families the calibration tries (as :class:`ClassicalConfig`).
    filter, params, weight
        Set by the calibration: the filter chosen, its parameters (normalised intensity
        units) and the network's weight; empty / ``None`` until calibrated (the network
        alone).
    """

    mode: str = "auto"
    families: tuple[str, ...] = ("gaussian",)
    filter: str = ""
    params: dict[str, float] = field(default_factory=dict)
    weight: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "families", tuple(self.families))
        if self.mode not in BLEND_MODES:
            raise ValueError(f"blend must be one of {list(BLEND_MODES)}, got {self.mode!r}")
        unknown = set(self.families) - set(CLASSICAL_FAMILIES)
        if unknown or not self.families:
            raise ValueError(f"blend families must be among {CLASSICAL_FAMILIES}, "
                             f"got {list(self.families)}")
        if self.weight is not None and not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"the blend weight must lie in [0, 1], got {self.weight}")
        if self.weight is not None and self.weight < 1.0 and not self.filter:
            raise ValueError("a blend weight below 1 needs its filter")

    @property
    def active(self) -> bool:
        """True when prediction blends (calibrated, with a filter weighing something)."""
        return self.weight is not None and self.weight < 1.0 and bool(self.filter)


@dataclass(frozen=True, kw_only=True)
class DenoiseConfig:
    """Everything one training run needs, bundled for storage and the GUI.

    ``noise_model`` is set (by :func:`~napari_blind_denoise.core.methods.default_config`)
    only for methods with a learned noise model (``nnet``); ``None`` otherwise. Likewise
    ``self2self`` only for ``s2s``, ``classical`` only for ``classical`` and ``blend`` only
    for ``n2v`` and ``n2s`` (set when training starts).
    """

    method: str = "n2v"
    mask: MaskConfig = field(default_factory=MaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    noise_model: NoiseModelConfig | None = None
    self2self: Self2SelfConfig | None = None
    classical: ClassicalConfig | None = None
    blend: BlendConfig | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON representation."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenoiseConfig:
        """Inverse of ``to_dict``."""
        return cls(
            method=data["method"],
            mask=MaskConfig.from_dict(data["mask"]),
            model=ModelConfig.from_dict(data["model"]),
            train=TrainConfig.from_dict(data["train"]),
            noise_model=(None if data.get("noise_model") is None
                         else NoiseModelConfig.from_dict(data["noise_model"])),
            self2self=(None if data.get("self2self") is None
                       else Self2SelfConfig.from_dict(data["self2self"])),
            classical=(None if data.get("classical") is None
                       else ClassicalConfig.from_dict(data["classical"])),
            blend=(None if data.get("blend") is None
                   else BlendConfig.from_dict(data["blend"])),
        )
