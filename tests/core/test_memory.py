"""The prediction memory budget (core.memory) and lazy reads of zarr stacks in training."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
import zarr

from napari_blind_denoise.core import TileConfig, TrainedModel, TrainingSession, predict, train
from napari_blind_denoise.core.data.axes import Layout
from napari_blind_denoise.core.data.normalize import compute_norm_stats
from napari_blind_denoise.core.errors import InputError
from napari_blind_denoise.core.memory import MB, default_budget_mb, output_align
from napari_blind_denoise.core.pipeline import run_pipeline
from napari_blind_denoise.core.train import run_to_completion
from tests.conftest import make_noisy, tiny_config


class Guarded:
    """A read-only array that records the largest read and refuses reads of more than
    ``limit`` elements at once, and any conversion of the whole array."""

    def __init__(self, array, limit: int) -> None:
        self.array, self.limit, self.largest = array, limit, 0
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim
        self.chunks = getattr(array, "chunks", None)

    def __getitem__(self, index):
        block = np.asarray(self.array[index])
        self.largest = max(self.largest, block.size)
        if block.size > self.limit:
            raise AssertionError(f"read {block.size} elements at once (limit {self.limit})")
        return block

    def __array__(self, *args, **kwargs):
        raise AssertionError("the whole array was converted")

    def __len__(self) -> int:
        return self.shape[0]


def zarr_stack(path, planes: int, shape: tuple[int, int], chunks=None) -> zarr.Array:
    data = np.stack([make_noisy(shape, seed=s)[0] for s in range(planes)]).astype(np.float32)
    z = zarr.open_array(store=str(path), mode="w", shape=data.shape, dtype="float32",
                        chunks=chunks or (1, 64, 64))
    z[...] = data
    return z


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    image = make_noisy((128, 128), seed=3)[0]
    return run_to_completion(train(image, "YX", tiny_config(steps=20), device="cpu"))


@pytest.fixture(scope="module")
def slim() -> TrainedModel:
    """A network of few channels: small activations, so a small budget keeps 60-px tiles."""
    image = make_noisy((64, 64), seed=3)[0]
    cfg = tiny_config(steps=2, base_channels=2, depth=1)
    return run_to_completion(train(image, "YX", cfg, device="cpu"))


def run(trained, data, tile, out=None):
    events = []
    gen = predict(trained, data, "ZYX", tile=tile, out=out, device="cpu")
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            return stop.value, events[-1].memory


def test_budget_path_equals_unbounded_prediction(trained, tmp_path) -> None:
    # Exactly equal: same tiles, and every pixel's weighted sum is added in the same
    # order; only when finished rows are written differs (whole 48-row output chunks).
    stack = zarr_stack(tmp_path / "in.zarr", 3, (200, 232))
    tile = TileConfig(tile_size=64, overlap=16, memory_budget=1e6)
    ref, _ = run(trained, stack, tile)
    out = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="w", shape=stack.shape,
                          dtype="float32", chunks=(1, 48, 64))
    _, plan = run(trained, stack, TileConfig(tile_size=64, overlap=16, memory_budget=8), out)
    assert plan.tile_size == 64 and plan.align == 48
    np.testing.assert_array_equal(out[...], ref)


def test_small_budget_lowers_the_tile_and_equals_that_tiling(trained, tmp_path) -> None:
    # A smaller tile changes the result (another tiling); it is exactly the prediction
    # with that tile asked for.
    stack = zarr_stack(tmp_path / "in.zarr", 2, (200, 232))
    small, plan = run(trained, stack, TileConfig(tile_size=192, overlap=32, memory_budget=1))
    assert plan.tile_size < 192 and plan.estimate_mb <= 1
    same, _ = run(trained, stack, TileConfig(tile_size=plan.tile_size, overlap=plan.overlap,
                                             memory_budget=1e6))
    np.testing.assert_array_equal(small, same)


def test_budget_bounds_reads_and_numpy_allocations(slim, tmp_path) -> None:
    # a 3.75 MB float32 stack (and a 3.75 MB output) predicted within a 1 MB budget.
    # tracemalloc sees numpy's allocations (reads, the blending band, writes, zarr's
    # buffers), not torch's (the activations: estimated, and measured as RSS by
    # benchmarks/out_of_core.py)
    stack = Guarded(zarr_stack(tmp_path / "in.zarr", 16, (160, 384), chunks=(1, 32, 64)),
                    limit=160 * 384)
    out = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="w", shape=stack.shape,
                          dtype="float32", chunks=(1, 32, 64))
    budget = 1.0
    tracemalloc.start()
    try:
        _, plan = run(slim, stack, TileConfig(tile_size=512, overlap=48,
                                              memory_budget=budget), out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert plan.tile_size < 512
    assert stack.largest <= plan.tile_size**2
    assert peak < budget * MB, f"numpy held {peak / MB:.2f} MB at once"
    assert float(np.abs(out[-1]).max()) > 0  # the last plane was written


def test_unbounded_tiles_would_exceed_that_budget(slim, tmp_path) -> None:
    # the same measurement without the budget's constraint: the check above can fail
    stack = zarr_stack(tmp_path / "in.zarr", 1, (160, 384))
    out = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="w", shape=stack.shape,
                          dtype="float32", chunks=(1, 64, 64))
    tracemalloc.start()
    try:
        run(slim, stack, TileConfig(tile_size=512, overlap=48, memory_budget=1e6), out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak > 1.0 * MB


def test_budget_too_small_is_refused(trained) -> None:
    wide = np.zeros((1, 64, 200_000), np.float32)
    with pytest.raises(InputError, match="memory budget of 1 MB is too small"):
        run(trained, wide, TileConfig(memory_budget=1))


def test_default_budget_is_a_fraction_of_available_memory() -> None:
    assert default_budget_mb() >= 256


def test_exception_budget_not_positive() -> None:
    with pytest.raises(ValueError, match="memory_budget"):
        TileConfig(memory_budget=0)


def test_output_align_uses_chunk_rows_not_taller_than_a_tile() -> None:
    layout = Layout("ZYX", (2, 300, 300))
    chunked = zarr.zeros((2, 300, 300), chunks=(1, 100, 300), dtype="float32")
    assert output_align([chunked], layout, 128) == 100
    assert output_align([chunked], layout, 64) == 1  # a chunk taller than the tile
    assert output_align([np.zeros((2, 300, 300))], layout, 128) == 1


def test_norm_stats_read_a_bounded_sample(tmp_path) -> None:
    stack = Guarded(zarr_stack(tmp_path / "in.zarr", 4, (512, 512)), limit=128 * 128)
    stats = compute_norm_stats(stack, Layout("ZYX", stack.shape), max_values=100_000)
    assert stats.high[0] > stats.low[0]
    assert stack.largest <= 128 * 128


def test_train_and_predict_read_a_zarr_stack_lazily(tmp_path) -> None:
    # training samples patches, statistics and the noise measurement from windows, and the
    # pipeline predicts tile by tile: no read of more than one plane, no whole conversion
    stack = Guarded(zarr_stack(tmp_path / "in.zarr", 4, (128, 160)), limit=128 * 160)
    session = TrainingSession(stack, "ZYX", tiny_config(steps=6), device="cpu")
    out = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="w", shape=stack.shape,
                          dtype="float32", chunks=(1, 32, 32))

    class Sink:
        def open(self, name, shape, axes, attrs):
            class Handle:
                array = out

                def commit(self):
                    return out

                def abort(self):
                    pass

            return Handle()

    result = run_to_completion(run_pipeline(session, sink=Sink(), yardstick=True,
                                            tile=TileConfig(tile_size=64, overlap=16,
                                                            memory_budget=64),
                                            stop=threading.Event()))
    assert result.complete and result.memory.budget_mb == 64
    assert 0 < stack.largest <= 128 * 160
    assert float(np.abs(out[...]).max()) > 0


def test_probe_leaves_the_callers_inferrer_alone(trained) -> None:
    # a stateful inferrer (s2s draws its passes from one generator, tile by tile) is called
    # once per tile only: the budget's probe pass uses a fresh copy of the inference
    calls = []

    def infer(model, x):
        calls.append(tuple(x.shape))
        return model(x)

    image = np.stack([make_noisy((96, 96), seed=1)[0]] * 2)
    gen = predict(trained, image, "ZYX", tile=TileConfig(tile_size=64, overlap=16),
                  device="cpu", inferrer=infer)
    n_tiles = len(list(gen))
    assert len(calls) == n_tiles == 2 * 4
    assert all(shape[-2:] == (64, 64) for shape in calls)


def test_probe_does_not_depend_on_the_allocators_state(trained) -> None:
    """The probe counts every layer output of a pass: the same figure whatever was
    allocated and freed before it (it used to miss outputs whose memory a freed one had
    left at the same address, so two processes planned different tiles for one model)."""
    import torch

    from napari_blind_denoise.core.memory import activation_bytes_per_pixel
    from napari_blind_denoise.core.predict import _Net

    net = _Net(trained, torch.device("cpu"), "unmasked")
    rng = np.random.default_rng(0)
    figures, junk = set(), []
    for i in range(8):
        figures.add(activation_bytes_per_pixel(net, 1, 16))
        junk.append(torch.empty(int(rng.integers(1_000, 400_000))))
        if i % 2:
            junk.pop(0)
    assert len(figures) == 1, figures
    # at least every leaf layer's output once: a lower bound computed independently
    sizes = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: sizes.append(o.numel() * o.element_size()))
             for m in net.model.modules() if not any(True for _ in m.children())]
    try:
        with torch.no_grad():
            net.model(torch.zeros(1, 1, 64, 64))
    finally:
        for h in hooks:
            h.remove()
    assert figures.pop() >= max(sizes) / (64 * 64)


# -- accelerators: the tile from the device's free memory ------------------------------------

def test_device_tile_fits_the_free_memory() -> None:
    from napari_blind_denoise.core.memory import DEVICE_FRACTION, device_tile

    per_pixel = 1000.0
    free = int(256 * 256 * per_pixel / DEVICE_FRACTION)  # exactly a 256-px tile
    assert device_tile(per_pixel, free, 512, 16) == 256
    assert device_tile(per_pixel, free - 1, 512, 16) == 240  # one byte less: the next one down
    assert device_tile(per_pixel, 10 * free, 512, 16) == 512  # never above the asked tile
    assert device_tile(per_pixel, None, 512, 16) == 512  # unknown free memory: unchanged
    assert device_tile(per_pixel, 1, 512, 16) == 32  # the floor
    cube = int(64 ** 3 * per_pixel / DEVICE_FRACTION)  # a 3-D block is edge deep too
    assert device_tile(per_pixel, cube, 512, 16, dims=3) == 64
    assert device_tile(per_pixel, cube - 1000, 512, 16, dims=3) == 48


def test_a_gpu_plan_bounds_the_tile_by_free_device_memory(trained, monkeypatch) -> None:
    """No GPU here: a CUDA device is simulated (the probe runs on the CPU and reports a fixed
    activation size; the free memory is monkeypatched). The plan lowers the tile when the
    device is short of memory, and keeps the activations out of the host budget."""
    import importlib

    import torch

    from napari_blind_denoise.core.data.axes import validate_axes
    from napari_blind_denoise.core.memory import DEVICE_FRACTION

    predict_module = importlib.import_module("napari_blind_denoise.core.predict")
    cpu = torch.device("cpu")
    real_net = predict_module._Net
    probed = []
    monkeypatch.setattr(predict_module, "_Net",
                        lambda tr, device, mode: probed.append(device) or real_net(tr, cpu, mode))
    per_pixel = 1000.0
    monkeypatch.setattr(predict_module, "activation_bytes_per_pixel",
                        lambda *_args: per_pixel)
    layout = validate_axes("YX", (1024, 1024))
    data = np.zeros((1024, 1024), np.float32)
    out = np.zeros_like(data)
    cuda = torch.device("cuda")
    tile = TileConfig(tile_size=512, overlap=32, memory_budget=4096)
    divisor = trained.config.model.divisor
    room = int((200 * 200 + 10) * per_pixel / DEVICE_FRACTION)  # a 200-px tile's activations
    for free, expect in ((room, 200 - 200 % divisor), (10**12, 512)):
        monkeypatch.setattr(predict_module, "device_free_bytes", lambda _d, f=free: f)
        plan = predict_module.plan_memory(trained, layout, (out,), data, tile, cuda)
        assert plan.tile_size == expect
    assert probed == [cuda, cuda]  # the probe ran for the device
    monkeypatch.setattr(predict_module, "device_free_bytes", lambda _d: None)
    plan = predict_module.plan_memory(trained, layout, (out,), data, tile, cuda)
    assert plan.tile_size == 512 and len(probed) == 2  # unknown free memory: no probe
    cpu_plan = predict_module.plan_memory(trained, layout, (out,), data, tile, cpu)
    assert cpu_plan.estimate_mb > plan.estimate_mb  # the CPU counts the activations
