"""The memory budget of 3-D prediction: blocks and a band of Z planes are counted."""

from __future__ import annotations

import numpy as np

from napari_blind_denoise.core import (
    DenoiseConfig,
    ModelConfig,
    TileConfig,
    TrainedModel,
    predict,
    run_to_completion,
    validate_axes,
)
from napari_blind_denoise.core.data.normalize import NormStats
from napari_blind_denoise.core.memory import estimate_bytes
from napari_blind_denoise.core.nets import UNet


def model3d() -> TrainedModel:
    cfg = DenoiseConfig(model=ModelConfig(dims=3, base_channels=4, depth=2))
    return TrainedModel(UNet(cfg.model).eval(), cfg,
                        NormStats(low=(0.0,), high=(1.0,), dtype="float32"), "ZYX")


def test_a_block_and_a_band_of_planes_are_counted() -> None:
    layout = validate_axes("ZYX", (64, 128, 128))
    flat = estimate_bytes(100.0, 32, 32, layout, 1, 1)
    deep = estimate_bytes(100.0, 32, 32, layout, 1, 1, tz=16)
    # 16 planes of activations and tile arrays, and a band of 17 whole planes, not 33 rows
    assert deep - flat > 15 * 100.0 * 32 * 32
    assert deep >= 2 * 4 * 17 * 128 * 128 * 2


def test_budget_lowers_the_block_edge() -> None:
    trained = model3d()
    data = np.random.default_rng(0).random((32, 64, 64), dtype=np.float32)
    events = []
    gen = predict(trained, data, "ZYX", device="cpu",
                  tile=TileConfig(tile_size=64, overlap=8, memory_budget=10))
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            out = stop.value
            break
    plan = events[-1].memory
    assert plan.tile_size < 64 and plan.estimate_mb <= 10
    whole = run_to_completion(predict(trained, data, "ZYX", device="cpu",
                                      tile=TileConfig(tile_size=64, overlap=8)))
    assert events[-1].n_tiles > 1 and np.isfinite(out).all()
    assert np.abs(out - whole).max() < 0.05 * np.ptp(whole)  # an untrained net: seams only
