"""The method layer: one module per method family, one registry the CLI and the GUI read.

Adding a method is one module with a :class:`Method` subclass plus one :func:`register`
call (``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import replace

from ..channels import DEFAULT_CHANNELS
from ..config import DenoiseConfig, ModelConfig, NoiseModelConfig, TrainConfig
from ..dims import DEFAULT_DIMS
from .base import (
    Batch,
    ExtraInput,
    ExtraOutput,
    Fitted,
    Method,
    Monitor,
    NotExportable,
    OutputContext,
    Scores,
    masked_l2,
)
from .bayesian import BayesianBlindSpotMethod
from .blindspot import MaskedMethod, Noise2Self, Noise2Void
from .classical import Classical
from .imported import PackagedModel
from .nnet import NNet
from .noise2noise import Noise2Noise
from .self2self import Self2Self

METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Add ``method`` to the registry under ``method.id`` (an id may be registered once)."""
    if not method.id or method.id in METHODS:
        raise ValueError(f"method id {method.id!r} is empty or already registered")
    METHODS[method.id] = method
    return method


def unregister(method_id: str) -> None:
    """Remove a method (tests register temporary ones)."""
    METHODS.pop(method_id, None)


for _method in (Noise2Void(), Noise2Self(), NNet(), Self2Self(), Classical(),
                BayesianBlindSpotMethod(), Noise2Noise()):
    register(_method)


# found by get_method for loaded models, never offered for training
HIDDEN: dict[str, Method] = {PackagedModel.id: PackagedModel()}


def get_method(method_id: str) -> Method:
    """The registered method ``method_id`` (or the hidden one of a model read from a
    BioImage.IO package).

    Raises
    ------
    ValueError
        No such method.
    """
    try:
        return METHODS.get(method_id) or HIDDEN[method_id]
    except KeyError:
        raise ValueError(f"unknown method {method_id!r}; choose from {method_ids()}") from None


def method_ids() -> list[str]:
    """Registered method ids in display order."""
    return list(METHODS)


def output_groups() -> dict[str, list[str]]:
    """Output groups (``noise``...) of the registered methods -> the ids of the methods."""
    groups: dict[str, list[str]] = {}
    for method in METHODS.values():
        for out in method.outputs():
            ids = groups.setdefault(out.group, [])
            if method.id not in ids:
                ids.append(method.id)
    return groups


PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    # small net, many steps: the fastest learner on a 2-core CPU (docs/benchmarks.md); 2-D
    # (stacks plane by plane) unless asked otherwise: DEFAULT_DIMS; the channel mode:
    # DEFAULT_CHANNELS (default_config also gives it to methods with presets of their own)
    "cpu": (ModelConfig(depth=2, base_channels=16, dims=DEFAULT_DIMS,
                        channels=DEFAULT_CHANNELS),
            TrainConfig(steps=1500, patch_size=64, batch_size=16, learning_rate=3e-3)),
    # wider and deeper for a GPU, where a step costs little
    "gpu": (ModelConfig(depth=3, base_channels=32, dims=DEFAULT_DIMS,
                        channels=DEFAULT_CHANNELS),
            TrainConfig(steps=6000, patch_size=96, batch_size=64, learning_rate=2e-3)),
}


def default_config(method: str = "n2v", preset: str = "cpu", *,
                   noise_model: str | NoiseModelConfig | None = None,
                   noise_sigma: float | None = None,
                   noise_fit: str | None = None,
                   **train_overrides) -> DenoiseConfig:
    """Configuration for ``method`` with ``preset`` (``cpu`` or ``gpu``) and overrides.

    Parameters
    ----------
    method
        A registered method id.
    preset
        ``"cpu"`` or ``"gpu"``: the shared settings of :data:`PRESETS`, as the method
        adapts them (:meth:`Method.preset`; ``s2s`` has its own), with the channel mode
        :data:`~napari_blind_denoise.core.channels.DEFAULT_CHANNELS`.
    noise_model
        Methods with a noise model only: a kind (``nnet``: ``"gaussian"``, ``"gmm2"``,
        ``"gmm3"``; ``bsn``: ``"gaussian"``, ``"poisson-gaussian"``, ``"impulse"``) or a
        :class:`NoiseModelConfig`; ``None`` gives the default (``gaussian``).
    noise_sigma
        A known noise standard deviation (input units) instead of a learned one
        (``NoiseModelConfig.sigma``; ``bsn`` with ``gaussian`` noise only).
    noise_fit
        ``"learn"`` or ``"estimate"`` (``NoiseModelConfig.fit``); ``None``: the method's
        default for the noise model.
    train_overrides
        :class:`TrainConfig` fields (``steps=``, ``time_budget=``...).
    """
    spec = get_method(method)
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(PRESETS)}")
    fields = spec.preset(preset, *PRESETS[preset])
    for name, value in (("noise_model", noise_model), ("noise_sigma", noise_sigma),
                        ("noise_fit", noise_fit)):
        if value is not None and not spec.noise_model:
            with_noise = [m for m, v in METHODS.items() if v.noise_model]
            raise ValueError(f"method {method!r} has no noise model; {name} applies to "
                             f"{with_noise}")
    if noise_sigma is not None and noise_model is None and spec.known_sigma_kinds:
        noise_model = spec.known_sigma_kinds[0]  # a known sigma is a Gaussian's
    noise = spec.noise_config(noise_model)
    if noise_sigma is not None:  # a known sigma is neither learned nor estimated
        noise = replace(noise, sigma=noise_sigma, fit="learn")
    if noise_fit is not None:
        noise = replace(noise, fit=noise_fit)
    if noise_sigma is not None or noise_fit is not None:
        spec.check_noise_kind(noise)
    fields["train"] = replace(fields["train"], **train_overrides)
    fields["model"] = replace(fields["model"], channels=DEFAULT_CHANNELS)
    return DenoiseConfig(method=method, mask=spec.mask, noise_model=noise, **fields)


__all__ = ["METHODS", "PRESETS", "Batch", "BayesianBlindSpotMethod", "Classical", "ExtraInput",
           "ExtraOutput", "Fitted", "MaskedMethod", "Method", "Monitor", "NNet", "Noise2Noise",
           "Noise2Self", "Noise2Void", "NotExportable", "OutputContext", "PackagedModel",
           "Scores", "Self2Self",
           "default_config", "get_method", "masked_l2", "method_ids", "output_groups",
           "register", "unregister"]
