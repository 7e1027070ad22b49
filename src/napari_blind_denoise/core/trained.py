"""A trained network with everything needed to apply it: what training hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .config import DenoiseConfig
from .data.normalize import NormStats

if TYPE_CHECKING:
    from .methods import Method


@dataclass
class TrainedModel:
    """A network with everything needed to apply it to new data.

    Attributes
    ----------
    model
        The network (``eval`` mode).
    config
        The configuration it was trained with.
    norm
        Normalisation statistics of the training data.
    axes
        Axes of the training data.
    info
        Training summary: steps, seconds, best step, whether stopped early, versions.
    """

    model: torch.nn.Module
    config: DenoiseConfig
    norm: NormStats
    axes: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """Method id (``n2v``, ``n2s``...)."""
        return self.config.method

    @property
    def spec(self) -> Method:
        """The registered :class:`~napari_blind_denoise.core.methods.Method` that made it."""
        from .methods import get_method

        return get_method(self.config.method)

    @property
    def channels(self) -> int:
        """Number of image channels the model expects."""
        return self.config.model.in_channels

    def axes_for(self, shape: tuple[int, ...], axes: str | None = None) -> str | None:
        """``axes`` if given; else the model's axes when ``shape`` has as many dimensions;
        else ``None`` (to be guessed)."""
        if axes is None and len(shape) == len(self.axes):
            return self.axes
        return axes


@dataclass
class ChannelModels:
    """One :class:`TrainedModel` per channel of the image (``ModelConfig.channels ==
    "separate"``): model ``c`` was trained on channel ``c`` alone and predicts it.

    The pipeline, :func:`~napari_blind_denoise.core.predict.predict` and the checkpoints
    take it wherever they take a :class:`TrainedModel` (``core.channels``).

    Attributes
    ----------
    models
        The channels' models, in the image's channel order (each with one channel).
    config
        The run's configuration (``model.in_channels``: the image's channel count).
    axes
        Axes of the training data (with ``C``).
    info
        Training summary: ``steps`` (all channels' together), ``train_seconds`` (the run's
        wall clock), ``best_step`` (one per channel), ``channels`` (each model's ``info``).
    """

    models: list[TrainedModel]
    config: DenoiseConfig
    axes: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """Method id."""
        return self.config.method

    @property
    def spec(self) -> Method:
        """The registered method that made the models."""
        return self.models[0].spec

    @property
    def channels(self) -> int:
        """Number of image channels (one model each)."""
        return len(self.models)

    def axes_for(self, shape: tuple[int, ...], axes: str | None = None) -> str | None:
        """As :meth:`TrainedModel.axes_for`."""
        if axes is None and len(shape) == len(self.axes):
            return self.axes
        return axes
