"""3-D networks end to end: n2v and n2s train on ZYX volumes, predict tile by tile (blended
in Z as in Y and X), save and load; a 3-D model refuses data without Z."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from napari_blind_denoise.core import (
    InputError,
    TileConfig,
    TrainedModel,
    load_model,
    predict,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.metrics import psnr
from tests.conftest import make_volume, tiny_config

SHAPE = (40, 64, 64)


@pytest.fixture(scope="module")
def volume() -> tuple[np.ndarray, np.ndarray]:
    return make_volume(SHAPE, seed=2)


def config3d(method: str, steps: int, **train_kw):
    cfg = tiny_config(method, steps=steps, **{"patch_depth": 8, "val_every": 10, **train_kw})
    return replace(cfg, model=replace(cfg.model, dims=3, base_channels=8))


@pytest.fixture(scope="module", params=["n2v", "n2s"])
def trained(request, volume) -> TrainedModel:
    return run_to_completion(train(volume[0], "ZYX", config3d(request.param, 20), device="cpu"))


def run(trained: TrainedModel, data, axes: str = "ZYX", **tile):
    return run_to_completion(predict(trained, data, axes, device="cpu",
                                     tile=TileConfig(**tile) if tile else None))


def test_smoke(trained: TrainedModel, volume) -> None:
    assert trained.config.model.dims == 3 and trained.info["adapted"]["dims"] == 3
    out = run(trained, volume[0])
    assert out.shape == SHAPE and out.dtype == np.float32 and np.isfinite(out).all()


def test_tiled_matches_whole_volume(trained: TrainedModel) -> None:
    """Blocks of 64 voxels starting at 0 and 8 along Z, Y and X (8 blocks) against one
    block over the whole 72^3 volume: equal within float tolerance where every block with
    weight lies more than the network's reach (about 22 voxels at depth 2) from its inner
    edges (the centre [30, 42)^3; Z slices: [30, 42) and the outer 8 planes, which one block
    covers), and within the 2-D tiling test's tolerance at the seams
    (tests/core/test_predict.py)."""
    noisy = make_volume((72, 72, 72), seed=7)[0]
    whole = run(trained, noisy, tile_size=128, overlap=16)
    tiled = run(trained, noisy, tile_size=64, overlap=16)
    rng = np.ptp(noisy)
    assert np.abs(whole - noisy).mean() > 1e-3 * rng  # not the identity
    diff = np.abs(tiled - whole) / rng
    assert diff[30:42, 30:42, 30:42].max() < 1e-5
    assert diff.max() < 0.02, f"max seam difference {diff.max():.2%} of the range"
    assert diff.mean() < 0.002, f"mean difference {diff.mean():.3%} of the range"


def test_tiled_blocks_write_every_voxel(trained: TrainedModel, volume) -> None:
    out = np.full(SHAPE, np.nan, np.float32)
    events = []
    gen = predict(trained, volume[0], "ZYX", out=out, device="cpu",
                  tile=TileConfig(tile_size=32, overlap=8))
    while True:
        try:
            events.append(next(gen))
        except StopIteration:
            break
    # Z 40 -> starts 0, 8; Y and X 64 -> 0, 24, 32
    assert [e.tile for e in events] == list(range(1, 19)) and events[-1].n_tiles == 18
    assert np.isfinite(out).all()


def test_time_lapse_of_volumes(trained: TrainedModel, volume) -> None:
    """TZYX: each time point is a volume, predicted as the ZYX volume alone would be."""
    stack = np.stack([volume[0], volume[0][::-1].copy()])
    out = run(trained, stack, "TZYX")
    assert np.allclose(out[0], run(trained, volume[0]), atol=1e-4 * np.ptp(volume[0]))


@pytest.mark.parametrize("bands", [1, 2, 3])
def test_units_of_z_rows_give_the_planes_predict_writes(trained: TrainedModel, volume,
                                                        bands: int) -> None:
    """Volumes cut into units of Z rows of blocks (each with its halo), predicted apart and
    put together: bitwise what :func:`predict` writes (what dask workers rely on)."""
    import torch

    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.data.volume import Volumes
    from napari_blind_denoise.core.predict import _Net
    from napari_blind_denoise.core.volume_predict import (
        plan_volume_units,
        predict_volume_unit,
        unit_blocks,
        volume_grid,
    )

    crop = volume[0][:, :32, :48]
    stack = np.stack([crop, crop[::-1].copy()])
    tile = TileConfig(tile_size=16, overlap=4)
    alone = run(trained, stack, "TZYX", tile_size=16, overlap=4)
    layout = check_image(stack, "TZYX")
    grid = volume_grid(trained, layout, tile.tile_size, tile.overlap)
    assert grid.starts[0] == (0, 12, 24) and grid.n_blocks == 3 * 3 * 4
    units = plan_volume_units(layout, grid, bands)
    assert len(units) == 2 * bands and sum(u.tiles for u in units) == 2 * grid.n_blocks
    halo = sum(unit_blocks(u, grid) for u in units) - 2 * grid.n_blocks
    assert halo == 2 * (bands - 1) * grid.per_z_row  # one Z row again per cut
    net = _Net(trained, torch.device("cpu"), None)
    vols, everything = Volumes(layout), slice(None)
    out = np.full_like(alone, np.nan)
    for unit in units:
        block = vols.read(stack, unit.plane, slice(*unit.read), everything, everything)
        planes = predict_volume_unit(net, trained.norm, block, unit, 1, grid)
        vols.write(out, unit.plane, slice(*unit.keep), everything, everything, planes)
    assert np.array_equal(out, alone)


def test_save_and_load(trained: TrainedModel, volume, tmp_path) -> None:
    folder = save_model(trained, tmp_path / "m")
    loaded = load_model(folder)
    assert loaded.config.model == trained.config.model and loaded.config.model.dims == 3
    a, b = run(trained, volume[0]), run(loaded, volume[0])
    assert np.allclose(a, b, atol=1e-5 * np.ptp(volume[0]))


def test_exception_3d_model_on_2d_data(trained: TrainedModel, volume) -> None:
    with pytest.raises(InputError, match=r"3-D network.*Z axis"):
        run(trained, volume[0][0], "YX")
    with pytest.raises(InputError, match=r"3-D network.*Z axis"):
        run(trained, volume[0][:3], "TYX")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["n2v", "n2s"])
def test_3d_improves_over_the_noisy_volume(method: str) -> None:
    """A measurement, not a race (about a minute each on 2 busy cores): at equal steps the
    3-D network was mostly behind the plane-by-plane one (docs/benchmarks.md,
    benchmarks/volume.py), and it learns slowly: on this volume it was still below the noisy
    input after 150 steps (n2v -0.67 dB, n2s -2.87 dB) and above it after 400 (+0.31 dB,
    +0.30 dB). It must at least remove noise by then."""
    noisy, clean = make_volume((32, 64, 64), seed=5)
    cfg = config3d(method, 400, patch_depth=16, val_every=50)
    trained = run_to_completion(train(noisy, "ZYX", cfg, device="cpu"))
    out = run(trained, noisy)
    gain = psnr(out, clean) - psnr(noisy, clean)
    assert gain > 0.0, f"3-D {method} gained {gain:.2f} dB"
