"""Frozen, validated configuration objects and their dict round trip."""

from __future__ import annotations

import dataclasses
import json

import pytest

from napari_blind_denoise.core import (
    DenoiseConfig,
    MaskConfig,
    ModelConfig,
    NoiseModelConfig,
    TileConfig,
    TrainConfig,
)


def test_round_trip_through_json() -> None:
    cfg = DenoiseConfig(method="n2s", mask=MaskConfig(kind="n2s", grid_period=3),
                        model=ModelConfig(depth=3, batch_norm=True),
                        train=TrainConfig(steps=7, time_budget=2.5))
    again = DenoiseConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_round_trip_with_noise_model() -> None:
    cfg = DenoiseConfig(method="nnet", mask=MaskConfig(kind="n2s"),
                        noise_model=NoiseModelConfig(kind="gmm2", hidden=12, min_std=2e-3,
                                                     lr_scale=4.0, calibrate=False))
    data = json.loads(json.dumps(cfg.to_dict()))
    assert data["noise_model"] == {"kind": "gmm2", "hidden": 12, "min_std": 2e-3,
                                   "lr_scale": 4.0, "calibrate": False, "sigma": None,
                                   "fit": "learn"}
    assert DenoiseConfig.from_dict(data) == cfg


def test_noise_model_saved_before_lr_scale_loads() -> None:
    data = {"kind": "gmm3", "hidden": 32, "min_std": 1e-3}  # a model folder from 0.1.0
    assert NoiseModelConfig.from_dict(data) == NoiseModelConfig(kind="gmm3")


def test_noise_model_saved_before_fit_learns() -> None:
    """A bsn model saved before ``fit`` existed learned its noise: it loads as ``learn``."""
    data = {"kind": "poisson-gaussian", "hidden": 32, "min_std": 1e-3, "sigma": None}
    assert NoiseModelConfig.from_dict(data).fit == "learn"


def test_old_dict_without_noise_model_loads() -> None:
    data = DenoiseConfig(method="n2s", mask=MaskConfig(kind="n2s")).to_dict()
    del data["noise_model"]
    cfg = DenoiseConfig.from_dict(data)
    assert cfg.noise_model is None and cfg.method == "n2s"


@pytest.mark.parametrize("cls", [MaskConfig, ModelConfig, TrainConfig, TileConfig,
                                 NoiseModelConfig])
def test_frozen_and_keyword_only(cls) -> None:
    cfg = cls()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.__setattr__(dataclasses.fields(cls)[0].name, None)
    first = dataclasses.fields(cls)[0]
    with pytest.raises(TypeError):
        cls(getattr(cfg, first.name))


@pytest.mark.parametrize("cls", [MaskConfig, ModelConfig, TrainConfig, TileConfig,
                                 NoiseModelConfig])
def test_exception_unknown_field(cls) -> None:
    with pytest.raises(ValueError, match="unknown"):
        cls.from_dict({**dataclasses.asdict(cls()), "surprise": 1})


@pytest.mark.parametrize(("cls", "kwargs"), [
    (MaskConfig, {"kind": "s2s"}),
    (MaskConfig, {"masked_fraction": 0.0}),
    (MaskConfig, {"masked_fraction": 0.6}),
    (MaskConfig, {"neighbourhood_radius": 0}),
    (MaskConfig, {"grid_period": 1}),
    (ModelConfig, {"depth": 0}),
    (ModelConfig, {"depth": 7}),
    (ModelConfig, {"base_channels": 0}),
    (ModelConfig, {"in_channels": 0, "residual": False}),
    (TrainConfig, {"steps": 0}),
    (TrainConfig, {"time_budget": 0}),
    (TrainConfig, {"patch_size": 4}),
    (TrainConfig, {"batch_size": 0}),
    (TrainConfig, {"learning_rate": 0}),
    (TrainConfig, {"warmup_fraction": 1.0}),
    (TrainConfig, {"val_every": 0}),
    (TileConfig, {"tile_size": 8}),
    (TileConfig, {"tile_size": 64, "overlap": 32}),
    (TileConfig, {"overlap": -1}),
    (NoiseModelConfig, {"kind": "gmm4"}),
    (NoiseModelConfig, {"hidden": 0}),
    (NoiseModelConfig, {"min_std": 0.0}),
    (NoiseModelConfig, {"sigma": 0.0}),
    (NoiseModelConfig, {"sigma": float("nan")}),
])
def test_exception_validation(cls, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        cls(**kwargs)


def test_divisor() -> None:
    assert ModelConfig(depth=3).divisor == 8
