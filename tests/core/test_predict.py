"""Tiled prediction: seams, output arrays, inference modes, units, errors."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_blind_denoise.core import (
    InputError,
    PredictEvent,
    TileConfig,
    TrainedModel,
    predict,
    run_to_completion,
    train,
)
from tests.conftest import make_noisy, tiny_config

WIDE = (200, 232)  # Y and X multiples of the UNet divisor
ODD = (200, 230)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return make_noisy(WIDE, seed=3)[0]


@pytest.fixture(scope="module")
def odd_image() -> np.ndarray:
    return make_noisy(ODD, seed=3)[0]


@pytest.fixture(scope="module", params=[True, False], ids=["residual", "plain"])
def trained(request, image: np.ndarray) -> TrainedModel:
    """~50 steps: far enough from the identity that seams would show."""
    cfg = tiny_config(steps=50, residual=request.param)
    return run_to_completion(train(image, "YX", cfg, device="cpu"))


@pytest.fixture(scope="module")
def n2s_model(image: np.ndarray) -> TrainedModel:
    return run_to_completion(train(image, "YX", tiny_config("n2s", steps=10), device="cpu"))


def run(trained: TrainedModel, data, axes: str | None = "YX", **kw):
    return run_to_completion(predict(trained, data, axes, device="cpu", **kw))


def tiled(trained: TrainedModel, data, **kw):
    return run(trained, data, tile=TileConfig(tile_size=64, overlap=16), **kw)


def whole(trained: TrainedModel, data, **kw):
    return run(trained, data, tile=TileConfig(tile_size=512, overlap=16), **kw)


def test_smoke(trained: TrainedModel, image: np.ndarray) -> None:
    gen = predict(trained, image, "YX", tile=TileConfig(tile_size=64, overlap=16),
                  device="cpu")
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            out = stop.value
            break
    # 200 rows -> starts 0, 48, 96, 136; 232 columns -> 0, 48, 96, 144, 168
    assert all(isinstance(e, PredictEvent) for e in events)
    assert [e.tile for e in events] == list(range(1, 21))
    assert all(e.n_tiles == 20 for e in events)
    assert events[-1].progress == 1.0
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.isfinite(out).all()


def test_model_is_not_the_identity(trained: TrainedModel, image: np.ndarray) -> None:
    """Otherwise the seam tests below would be vacuous."""
    out = whole(trained, image)
    rng_ = np.ptp(image)
    assert np.abs(out - image).mean() > 1e-3 * rng_


def test_tiled_matches_whole_image(trained: TrainedModel, image: np.ndarray) -> None:
    a, b = tiled(trained, image), whole(trained, image)
    diff = np.abs(a - b) / np.ptp(image)
    assert diff.max() < 0.02, f"max seam difference {diff.max():.2%} of the range"
    assert diff.mean() < 0.002, f"mean difference {diff.mean():.3%} of the range"


def test_tiled_matches_whole_image_odd_width(trained: TrainedModel,
                                             odd_image: np.ndarray) -> None:
    """230 is not a multiple of 4: both passes use tiles of a multiple of 4 (the whole-image
    pass two overlapping 228-wide tiles), so no network padding and no edge difference."""
    a, b = tiled(trained, odd_image), whole(trained, odd_image)
    diff = np.abs(a - b) / np.ptp(odd_image)
    assert diff.max() < 0.02
    assert diff.mean() < 0.002


def test_deterministic(trained: TrainedModel, image: np.ndarray) -> None:
    np.testing.assert_array_equal(tiled(trained, image), tiled(trained, image))


def test_zarr_output(trained: TrainedModel, image: np.ndarray, tmp_path) -> None:
    zarr = pytest.importorskip("zarr")
    out = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="w", shape=image.shape,
                          chunks=(64, 64), dtype="float32")
    returned = tiled(trained, image, out=out)
    assert returned is out
    reread = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="r")[...]
    np.testing.assert_allclose(reread, tiled(trained, image), rtol=1e-6, atol=1e-4)


def test_numpy_output_written_in_place(trained: TrainedModel, image: np.ndarray) -> None:
    out = np.full(image.shape, np.nan, np.float32)
    returned = tiled(trained, image, out=out)
    assert returned is out
    assert np.isfinite(out).all()


def test_zarr_and_dask_input(trained: TrainedModel, image: np.ndarray, tmp_path) -> None:
    zarr = pytest.importorskip("zarr")
    da = pytest.importorskip("dask.array")
    z = zarr.open_array(store=str(tmp_path / "in.zarr"), mode="w", shape=image.shape,
                        chunks=(50, 50), dtype="float32")
    z[...] = image
    ref = tiled(trained, image)
    np.testing.assert_array_equal(tiled(trained, z), ref)
    np.testing.assert_array_equal(tiled(trained, da.from_array(image, chunks=64)), ref)


def test_input_not_modified(trained: TrainedModel, image: np.ndarray) -> None:
    data = image.copy()
    data.flags.writeable = False
    tiled(trained, data)
    np.testing.assert_array_equal(data, image)


def test_output_in_input_units(image: np.ndarray) -> None:
    """An offset uint16 image comes back float32 in the same units, not normalised."""
    data = np.clip(image[:96, :96] * 4 + 1000, 0, 65535).astype(np.uint16)
    trained = run_to_completion(train(data, "YX", tiny_config(steps=20), device="cpu"))
    out = whole(trained, data)
    assert out.dtype == np.float32
    span = float(np.ptp(data))
    assert abs(out.mean() - data.mean()) < 0.03 * span
    assert out.min() > data.min() - 0.2 * span
    assert out.max() < data.max() + 0.2 * span


def test_stack_predicted_plane_by_plane(trained: TrainedModel, image: np.ndarray) -> None:
    stack = np.stack([image[:96, :96], image[100:196, 100:196]])
    out = tiled(trained, stack, axes=None)  # guessed: ZYX
    assert out.shape == stack.shape
    for z in range(2):
        np.testing.assert_allclose(out[z], tiled(trained, stack[z]), rtol=1e-5, atol=1e-3)


def test_stop_event_ends_early(trained: TrainedModel, image: np.ndarray) -> None:
    stop = threading.Event()
    stop.set()
    gen = predict(trained, image, "YX", tile=TileConfig(tile_size=64, overlap=16),
                  device="cpu", stop=stop)
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration:
            break
    assert len(events) == 1


def test_phases_inference_n2s(n2s_model: TrainedModel, image: np.ndarray) -> None:
    data = image[:96, :96].copy()
    phases = run(n2s_model, data, tile=TileConfig(tile_size=128, overlap=16),
                 inference="phases")
    plain = run(n2s_model, data, tile=TileConfig(tile_size=128, overlap=16))
    assert phases.shape == data.shape and np.isfinite(phases).all()
    assert not np.allclose(phases, plain)


def test_phases_inference_is_j_invariant(n2s_model: TrainedModel, image: np.ndarray) -> None:
    """In phases mode a pixel's output never depends on that pixel's own noisy value."""
    data = image[:96, :96].copy()
    changed = data.copy()
    y, x = 41, 50
    changed[y, x] += 10 * np.ptp(data)
    tile = TileConfig(tile_size=128, overlap=16)
    a = run(n2s_model, data, tile=tile, inference="phases")
    b = run(n2s_model, changed, tile=tile, inference="phases")
    assert b[y, x] == pytest.approx(a[y, x], rel=1e-5, abs=1e-3)
    assert not np.allclose(a, b)  # the neighbours did see the change
    # and in the ordinary single pass the pixel does see itself
    c = run(n2s_model, data, tile=tile)
    d = run(n2s_model, changed, tile=tile)
    assert d[y, x] != pytest.approx(c[y, x], rel=1e-3)


def test_tile_size_rounded_to_divisor(trained: TrainedModel, image: np.ndarray) -> None:
    """A tile size that is not a multiple of 2**depth is rounded down, results unchanged."""
    odd = run(trained, image, tile=TileConfig(tile_size=70, overlap=16))
    np.testing.assert_allclose(odd, tiled(trained, image), atol=0.02 * np.ptp(image))


def test_round_tile() -> None:
    from napari_blind_denoise.core.predict import _round_tile

    assert _round_tile(70, 4, 200) == 68
    assert _round_tile(64, 8, 200) == 64
    assert _round_tile(3, 4, 200) == 4
    assert _round_tile(512, 4, 230) == 228  # two overlapping tiles, no padding in the net
    assert _round_tile(512, 4, 232) == 232  # one tile over the whole axis
    assert _round_tile(512, 4, 3) == 3  # smaller than the divisor: the net pads


def test_channel_axis_position_is_free(rng: np.random.Generator) -> None:
    """A model trained on CYX applies to the same data stored as YXC."""
    cyx = rng.normal(size=(2, 48, 48)).astype(np.float32)
    cyx[1] = cyx[1] * 5 + 50
    trained = run_to_completion(train(cyx, "CYX", tiny_config(steps=3), device="cpu"))
    tile = TileConfig(tile_size=64, overlap=16)
    a = run(trained, cyx, axes="CYX", tile=tile)
    b = run(trained, np.moveaxis(cyx, 0, -1), axes="YXC", tile=tile)
    assert b.shape == (48, 48, 2)
    np.testing.assert_allclose(np.moveaxis(b, -1, 0), a, rtol=1e-5, atol=1e-4)


def test_exception_inference_mode(trained: TrainedModel, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="inference mode"):
        run(trained, image, inference="bogus")


def test_exception_channel_mismatch(trained: TrainedModel, image: np.ndarray) -> None:
    two = np.stack([image[:64, :64], image[:64, :64]])
    with pytest.raises(InputError, match="trained on 1 channel"):
        run(trained, two, axes="CYX")


def test_exception_output_shape(trained: TrainedModel, image: np.ndarray) -> None:
    with pytest.raises(InputError, match="output shape"):
        run(trained, image, out=np.zeros((10, 10), np.float32))


@pytest.mark.parametrize("bands", [1, 2, 3, 4])
def test_units_of_tile_rows_give_the_rows_predict_writes(trained: TrainedModel,
                                                         image: np.ndarray, bands: int) -> None:
    """Planes cut into bands of tile rows (each with its halo), predicted apart and put
    together: bitwise what :func:`predict` writes (what dask workers rely on)."""
    import torch

    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.predict import _Net, plan_units, predict_unit, tile_grid

    stack = np.stack([image, image[::-1]])
    tile = TileConfig(tile_size=64, overlap=16)
    alone = run(trained, stack, "ZYX", tile=tile)
    layout = check_image(stack, "ZYX")
    grid = tile_grid(trained, layout, tile.tile_size, tile.overlap)
    units = plan_units(layout, grid, bands)
    assert len(units) == 2 * bands and sum(u.tiles for u in units) == 2 * 4 * 5
    plane = check_image(image[None], "CYX")
    net = _Net(trained, torch.device("cpu"), None)
    out = np.full_like(alone, np.nan)
    for unit in units:
        block = layout.read(stack, unit.plane, slice(*unit.read), slice(0, WIDE[1]))
        rows = predict_unit(net, trained.norm, block, unit, plane, grid, tile.overlap)
        layout.write(out, unit.plane, slice(*unit.keep), slice(0, WIDE[1]), rows)
    assert np.array_equal(out, alone)
