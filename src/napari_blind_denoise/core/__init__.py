"""Qt-free core: methods, networks, training, tiled prediction, the pipeline, checkpoints.

Imports numpy, torch and (lazily) zarr/tifffile/scikit-image only; never napari or Qt.
Layout: ``methods/`` (one module per method family, and the registry), ``nets/``
(networks), ``masking/`` (maskers), ``data/`` (axes, validation, normalisation, patches,
tiling), ``noise/`` (noise-model readers, calibration, statistics, synthetic noise), and the
runners ``train``, ``predict`` and ``pipeline`` (docs/architecture.md).
"""

from .api import denoise
from .atomic import SOFTWARE, ForeignDataError
from .bioimageio import (
    PackageExport,
    bioimageio_available,
    export_bioimageio,
    is_bioimageio_package,
    load_bioimageio,
)
from .channels import DEFAULT_CHANNELS
from .checkpoint import is_model_folder, load_model, save_model
from .config import (
    CHANNEL_MODES,
    NOISE_MODEL_KINDS,
    BlendConfig,
    DenoiseConfig,
    MaskConfig,
    ModelConfig,
    NoiseModelConfig,
    Self2SelfConfig,
    TileConfig,
    TrainConfig,
)
from .data.axes import Layout, guess_axes, validate_axes
from .data.exclude import IMPULSE_SIGMAS, ImpulseMask, exclude_pixels
from .data.normalize import NormStats, compute_norm_stats
from .data.pairs import neighbour_frames
from .data.validate import check_image
from .device import DEVICE_CHOICES, available_devices, describe_device, pick_device
from .dims import AUTO_MIN_DEPTH
from .errors import BlindDenoiseError, CheckpointError, InputError
from .events import Phase, PredictEvent, Preview, TrainEvent
from .methods import (
    METHODS,
    PRESETS,
    ExtraInput,
    ExtraOutput,
    Method,
    NotExportable,
    OutputContext,
    default_config,
    get_method,
    method_ids,
    output_groups,
    register,
    unregister,
)
from .metrics import fit_affine, psnr, score, ssim
from .noise.correlation import NoiseCorrelation, estimate_noise_correlation
from .noise.model import (
    describe_noise_model,
    fit_poisson_gaussian,
    has_noise_model,
    noise_curve,
    noise_density,
    predict_noise_std,
)
from .noise.stats import DISPLAY_MIN_FRACTION, binned_std, residuals_at, sample_residuals
from .noise.synthetic import NOISE_KINDS, add_noise
from .pipeline import MemorySink, PipelineResult, apply_pipeline, run_pipeline
from .predict import check_compatible, predict
from .preview import PreviewOptions
from .separate import ChannelSession, session_for
from .train import TrainingSession, run_to_completion, train
from .trained import ChannelModels, TrainedModel

__all__ = [
    "AUTO_MIN_DEPTH",
    "CHANNEL_MODES",
    "DEFAULT_CHANNELS",
    "DEVICE_CHOICES",
    "DISPLAY_MIN_FRACTION",
    "IMPULSE_SIGMAS",
    "METHODS",
    "NOISE_KINDS",
    "NOISE_MODEL_KINDS",
    "PRESETS",
    "SOFTWARE",
    "BlendConfig",
    "BlindDenoiseError",
    "ChannelModels",
    "ChannelSession",
    "CheckpointError",
    "DenoiseConfig",
    "ExtraInput",
    "ExtraOutput",
    "ForeignDataError",
    "ImpulseMask",
    "InputError",
    "Layout",
    "MaskConfig",
    "MemorySink",
    "Method",
    "ModelConfig",
    "NoiseCorrelation",
    "NoiseModelConfig",
    "NormStats",
    "NotExportable",
    "OutputContext",
    "PackageExport",
    "Phase",
    "PipelineResult",
    "PredictEvent",
    "Preview",
    "PreviewOptions",
    "Self2SelfConfig",
    "TileConfig",
    "TrainConfig",
    "TrainEvent",
    "TrainedModel",
    "TrainingSession",
    "add_noise",
    "apply_pipeline",
    "available_devices",
    "binned_std",
    "bioimageio_available",
    "check_compatible",
    "check_image",
    "compute_norm_stats",
    "default_config",
    "denoise",
    "describe_device",
    "describe_noise_model",
    "estimate_noise_correlation",
    "exclude_pixels",
    "export_bioimageio",
    "fit_affine",
    "fit_poisson_gaussian",
    "get_method",
    "guess_axes",
    "has_noise_model",
    "is_bioimageio_package",
    "is_model_folder",
    "load_bioimageio",
    "load_model",
    "method_ids",
    "neighbour_frames",
    "noise_curve",
    "noise_density",
    "output_groups",
    "pick_device",
    "predict",
    "predict_noise_std",
    "psnr",
    "register",
    "residuals_at",
    "run_pipeline",
    "run_to_completion",
    "sample_residuals",
    "save_model",
    "score",
    "session_for",
    "ssim",
    "train",
    "unregister",
    "validate_axes",
]
