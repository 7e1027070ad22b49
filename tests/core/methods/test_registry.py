"""The method registry and presets."""

from __future__ import annotations

import pytest

from napari_blind_denoise.core import (
    METHODS,
    PRESETS,
    DenoiseConfig,
    NoiseModelConfig,
    default_config,
    method_ids,
)


def test_registry() -> None:
    assert method_ids() == ["n2v", "n2s", "nnet", "s2s", "classical", "bsn", "n2n"]
    for mid, method in METHODS.items():
        assert method.id == mid
        if mid not in ("s2s", "bsn", "n2n"):  # s2s samples Bernoulli masks, bsn, n2n none
            assert method.mask.kind == ("n2s" if mid in ("nnet", "classical") else mid)
        assert method.name and method.description
    assert [m for m, v in METHODS.items() if v.accepts_missing] == ["s2s"]
    assert [m for m, v in METHODS.items() if v.noise_model] == ["nnet", "bsn"]
    assert [m for m, v in METHODS.items() if v.inputs == 2] == ["n2n"]
    assert [i.name for i in METHODS["n2n"].extra_inputs] == ["pair"]


@pytest.mark.parametrize("method", ["n2v", "n2s", "nnet"])
@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_default_config(method: str, preset: str) -> None:
    cfg = default_config(method, preset)
    assert cfg.method == method
    assert cfg.mask == METHODS[method].mask
    assert (cfg.model, cfg.train) == PRESETS[preset]
    assert (cfg.noise_model is not None) == METHODS[method].noise_model
    assert cfg.self2self is None


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_self2self_presets(preset: str) -> None:
    cfg = default_config("s2s", preset, steps=7, time_budget=9.0)
    assert (cfg.train.steps, cfg.train.time_budget) == (7, 9.0)  # overrides win
    assert cfg.model.depth == 5  # the paper's five poolings
    assert cfg.self2self.keep_probability == 0.7
    if preset == "gpu":  # the paper
        assert (cfg.model.base_channels, cfg.train.learning_rate) == (48, 1e-4)
        assert cfg.self2self.passes == 50
        assert default_config("s2s", "gpu").train.steps == 150_000
    else:  # small and fast
        assert cfg.model.base_channels < 48 and cfg.train.learning_rate > 1e-4
        assert 10 <= cfg.self2self.passes <= 20
    assert DenoiseConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("kind", ["gaussian", "gmm2", "gmm3"])
def test_default_config_noise_model(kind: str) -> None:
    cfg = default_config("nnet", "cpu", noise_model=kind, steps=5)
    assert cfg.noise_model == NoiseModelConfig(kind=kind)
    assert cfg.noise_model.components == {"gaussian": 1, "gmm2": 2, "gmm3": 3}[kind]
    assert cfg.train.steps == 5
    custom = NoiseModelConfig(kind="gmm2", hidden=8)
    assert default_config("nnet", noise_model=custom).noise_model is custom


def test_exception_noise_model() -> None:
    with pytest.raises(ValueError, match="no noise model"):
        default_config("n2s", "cpu", noise_model="gmm2")
    with pytest.raises(ValueError, match="noise model kind"):
        default_config("nnet", "cpu", noise_model="gmm4")


def test_overrides_apply_to_train_only() -> None:
    cfg = default_config("n2v", "cpu", steps=5, time_budget=3.0, seed=9)
    assert (cfg.train.steps, cfg.train.time_budget, cfg.train.seed) == (5, 3.0, 9)
    assert cfg.train.patch_size == PRESETS["cpu"][1].patch_size
    assert PRESETS["cpu"][1].steps != 5  # the preset itself is untouched


def test_exception_unknown() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        default_config("n2x")
    with pytest.raises(ValueError, match="unknown preset"):
        default_config("n2v", "tpu")
    with pytest.raises(TypeError):
        default_config("n2v", "cpu", not_a_field=1)
    with pytest.raises(ValueError, match="steps"):
        default_config("n2v", "cpu", steps=0)
