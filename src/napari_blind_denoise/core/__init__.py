"""Qt-free core: masking, models, training, tiled prediction, checkpoints, metrics.

Imports numpy, torch and (lazily) zarr/tifffile/scikit-image only; never napari or Qt.
"""

from .api import denoise
from .axes import Layout, guess_axes, validate_axes
from .checkpoint import load_model, save_model
from .config import (
    NOISE_MODEL_KINDS,
    DenoiseConfig,
    MaskConfig,
    ModelConfig,
    NoiseModelConfig,
    TileConfig,
    TrainConfig,
)
from .device import describe_device, pick_device
from .errors import BlindDenoiseError, CheckpointError, InputError
from .events import PredictEvent, TrainEvent
from .methods import METHODS, PRESETS, default_config, method_ids
from .metrics import fit_affine, psnr, score, ssim
from .noise import NOISE_KINDS, add_noise
from .noise_model import (
    fit_poisson_gaussian,
    has_noise_model,
    noise_curve,
    noise_density,
    predict_noise_std,
)
from .normalize import NormStats, compute_norm_stats
from .predict import predict
from .train import TrainedModel, TrainingSession, run_to_completion, train

__all__ = [
    "METHODS", "NOISE_KINDS", "NOISE_MODEL_KINDS", "PRESETS", "BlindDenoiseError",
    "CheckpointError", "DenoiseConfig", "InputError", "Layout", "MaskConfig", "ModelConfig",
    "NoiseModelConfig", "NormStats", "PredictEvent", "TileConfig", "TrainConfig", "TrainEvent",
    "TrainedModel", "TrainingSession", "add_noise", "compute_norm_stats", "default_config",
    "denoise", "describe_device", "fit_affine", "fit_poisson_gaussian", "guess_axes",
    "has_noise_model", "load_model", "method_ids", "noise_curve", "noise_density",
    "pick_device", "predict", "predict_noise_std", "psnr", "run_to_completion", "save_model",
    "score", "ssim", "train", "validate_axes",
]
