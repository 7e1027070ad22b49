"""The method registry and presets."""

from __future__ import annotations

import pytest

from napari_blind_denoise.core import METHODS, PRESETS, default_config, method_ids


def test_registry() -> None:
    assert method_ids() == ["n2v", "n2s"]
    for mid, method in METHODS.items():
        assert method.id == mid
        assert method.mask.kind == mid
        assert method.name and method.description


@pytest.mark.parametrize("method", ["n2v", "n2s"])
@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_default_config(method: str, preset: str) -> None:
    cfg = default_config(method, preset)
    assert cfg.method == method
    assert cfg.mask == METHODS[method].mask
    assert (cfg.model, cfg.train) == PRESETS[preset]


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
