"""Prediction on dask.distributed workers (``--dask-scheduler``/``--dask-workers``): bitwise
the result of one process.

One local cluster of 2 worker processes (one thread each) is shared by the module; tests
that need it are skipped when the ``[distributed]`` extra is not installed.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace

import numpy as np
import pytest
import zarr

from napari_blind_denoise.cli import main
from napari_blind_denoise.core import (
    InputError,
    TileConfig,
    TrainedModel,
    predict,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.checkpoint import model_bytes, model_from_bytes
from napari_blind_denoise.core.config import Self2SelfConfig
from napari_blind_denoise.core.pipeline import apply_pipeline
from tests.conftest import make_noisy, make_volume, tiny_config

TILE = TileConfig(tile_size=32, overlap=8, memory_budget=256)  # 3 x 3 tiles per 64² plane


@pytest.fixture(scope="module")
def client():
    """A local cluster of 2 worker processes with one thread each (``--dask-workers 2``)."""
    pytest.importorskip("distributed", reason="dask.distributed (the [distributed] extra) "
                        "is not installed")
    from napari_blind_denoise.distributed import open_client

    with open_client(workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def stack() -> np.ndarray:
    return np.stack([make_noisy((64, 64), seed=s)[0] for s in range(4)]).astype(np.float32)


@pytest.fixture(scope="module")
def model(stack: np.ndarray) -> TrainedModel:
    """Trained enough (30 steps) for every tile to differ from its input."""
    return run_to_completion(train(stack[0], "YX", tiny_config(steps=30), device="cpu"))


def _zarr(path, data: np.ndarray):
    arr = zarr.open_array(store=str(path), mode="w", shape=data.shape, dtype="float32",
                          chunks=(1, 32, 32))
    arr[...] = data
    return arr


def _on_dask(client, model, data, axes: str, out, tile=TILE, **kw):
    from napari_blind_denoise.distributed import DaskPredictor

    predictor = DaskPredictor(client, "cpu")
    run_to_completion(predictor(model, data, axes, tile=tile, out=out, device="cpu", **kw))
    return predictor.summary


def test_two_worker_processes_predict_a_zarr_stack_bitwise_as_one_process(
        client, model, stack, tmp_path) -> None:
    inp = _zarr(tmp_path / "in.zarr", stack)
    out = _zarr(tmp_path / "out.zarr", np.zeros_like(stack))
    summary = _on_dask(client, model, inp, "ZYX", out)
    alone = run_to_completion(predict(model, inp, "ZYX", tile=TILE, device="cpu"))
    assert np.array_equal(out[...], alone)  # bitwise, not within a tolerance
    assert not np.array_equal(alone, stack)
    assert summary["workers"] == 2 and summary["workers_used"] == 2
    assert summary["units"] == 4 and summary["bands_per_plane"] == 1  # whole planes
    pids = client.run(os.getpid)  # worker processes, not this one
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()


def test_one_plane_is_cut_into_bands_with_the_same_result(client, model) -> None:
    image = make_noisy((96, 64), seed=7)[0].astype(np.float32)
    out = np.zeros_like(image)
    summary = _on_dask(client, model, image, "YX", out)
    alone = run_to_completion(predict(model, image, "YX", tile=TILE, device="cpu"))
    assert summary["bands_per_plane"] == 2  # one band per worker thread, with a halo
    assert np.array_equal(out, alone)


def test_the_pipeline_runs_on_the_workers(client, model, stack) -> None:
    from napari_blind_denoise.distributed import DaskPredictor

    predictor = DaskPredictor(client, "cpu")
    run = run_to_completion(apply_pipeline(model, stack, "ZYX", tile=TILE, device="cpu",
                                           predictor=predictor))
    alone = run_to_completion(apply_pipeline(model, stack, "ZYX", tile=TILE, device="cpu"))
    assert np.array_equal(run.images["denoised"], alone.images["denoised"])
    assert run.removed_noise == alone.removed_noise
    assert run.memory.tile_size == alone.memory.tile_size == 32


def test_cli_predict_with_a_dask_scheduler(client, model, stack, tmp_path, capsys) -> None:
    _zarr(tmp_path / "in.zarr", stack)
    save_model(model, tmp_path / "model")
    common = ["predict", str(tmp_path / "in.zarr"), "--model", str(tmp_path / "model"),
              "--device", "cpu", "--tile-size", "32", "--memory-budget", "256", "--json",
              "--quiet"]
    assert main([*common, "-o", str(tmp_path / "alone.zarr")]) == 0
    assert "dask" not in json.loads(capsys.readouterr().out.splitlines()[-1])
    address = client.scheduler.address
    rc = main([*common, "-o", str(tmp_path / "dask.zarr"), "--dask-scheduler", address])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    dask = json.loads(cap.out.splitlines()[-1])["dask"]
    assert dask["scheduler"] == address and dask["workers"] == 2
    assert dask["workers_used"] >= 1 and dask["model_bytes"] > 0
    alone = zarr.open_array(store=str(tmp_path / "alone.zarr"), mode="r")[...]
    on_dask = zarr.open_array(store=str(tmp_path / "dask.zarr"), mode="r")[...]
    assert np.array_equal(on_dask, alone)


def test_cli_denoise_predicts_on_the_workers(client, stack, tmp_path, capsys) -> None:
    """``denoise``: training here, its prediction phase on the workers, bitwise what
    ``predict`` in one process gives with the model it saved."""
    _zarr(tmp_path / "in.zarr", stack)
    rc = main(["denoise", str(tmp_path / "in.zarr"), "-o", str(tmp_path / "dask.zarr"),
               "--method", "n2v", "--axes", "ZYX", "--steps", "4", "--patch-size", "32",
               "--batch-size", "4", "--device", "cpu", "--no-yardstick", "--tile-size", "32",
               "--memory-budget", "256", "--save-model", str(tmp_path / "model"), "--json",
               "--quiet", "--dask-scheduler", client.scheduler.address])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert json.loads(cap.out.splitlines()[-1])["dask"]["workers_used"] >= 1
    assert main(["predict", str(tmp_path / "in.zarr"), "--model", str(tmp_path / "model"),
                 "-o", str(tmp_path / "alone.zarr"), "--device", "cpu", "--tile-size", "32",
                 "--memory-budget", "256", "--quiet"]) == 0
    alone = zarr.open_array(store=str(tmp_path / "alone.zarr"), mode="r")[...]
    on_dask = zarr.open_array(store=str(tmp_path / "dask.zarr"), mode="r")[...]
    assert np.array_equal(on_dask, alone)


def test_sequential_inference_stays_in_this_process(client, stack) -> None:
    """``s2s`` ensembles draw every tile's passes from one generator in turn: predicted
    here (identical to one process), with a note; its single pass goes to the workers."""
    cfg = tiny_config("s2s", steps=2)
    cfg = replace(cfg, self2self=replace(cfg.self2self or Self2SelfConfig(), passes=2))
    s2s = run_to_completion(train(stack[0], "YX", cfg, device="cpu"))
    for mode, used in (("ensemble", 0), ("single", 2)):
        out = np.zeros_like(stack)
        summary = _on_dask(client, s2s, stack, "ZYX", out, inference=mode)
        alone = run_to_completion(predict(s2s, stack, "ZYX", tile=TILE, device="cpu",
                                          inference=mode))
        assert np.array_equal(out, alone), mode
        assert summary["workers_used"] == used, mode
        assert ("note" in summary) == (mode == "ensemble")


TILE3 = TileConfig(tile_size=16, overlap=4, memory_budget=256)  # 16³ blocks


@pytest.fixture(scope="module")
def model3d() -> TrainedModel:
    volume = make_volume((16, 64, 64), seed=3)[0]
    cfg = tiny_config(steps=4, patch_depth=8)
    cfg = replace(cfg, model=replace(cfg.model, dims=3))
    return run_to_completion(train(volume, "ZYX", cfg, device="cpu"))


def test_a_3d_model_is_predicted_on_the_workers_bitwise_as_one_process(
        client, model3d) -> None:
    """A 3-D network's volume cut into units of Z rows of blocks (5 rows of 16³ blocks,
    2 units, the second predicting again the row before it): both workers, bitwise the
    one-process result."""
    volume = make_volume((64, 32, 32), seed=5)[0]
    assert model3d.config.model.dims == 3
    out = np.zeros_like(volume)
    summary = _on_dask(client, model3d, volume, "ZYX", out, tile=TILE3)
    alone = run_to_completion(predict(model3d, volume, "ZYX", tile=TILE3, device="cpu"))
    assert np.array_equal(out, alone)  # bitwise
    assert not np.array_equal(alone, volume)
    assert "note" not in summary and summary["workers_used"] == 2
    assert summary["units"] == summary["units_per_volume"] == 2
    assert summary["planes_per_unit"] == 40  # Z starts 0, 12, 24, 36, 48: [0, 24) [24, 64)
    assert summary["blocks"] == 5 * 9 and summary["blocks_predicted"] == 6 * 9


def test_volumes_of_a_time_lapse_are_units_of_their_own(client, model3d, tmp_path) -> None:
    """TZYX into a zarr store: one unit per volume when there are enough volumes (nothing
    predicted twice), bitwise the one-process result."""
    stack = np.stack([make_volume((24, 32, 32), seed=s)[0] for s in (6, 7, 8)])
    out = zarr.open_array(store=str(tmp_path / "out.zarr"), mode="w", shape=stack.shape,
                          dtype="float32", chunks=(1, 8, 32, 32))
    summary = _on_dask(client, model3d, stack, "TZYX", out, tile=TILE3)
    alone = run_to_completion(predict(model3d, stack, "TZYX", tile=TILE3, device="cpu"))
    assert np.array_equal(out[...], alone)
    assert summary["units"] == 3 and summary["units_per_volume"] == 1
    assert summary["blocks_predicted"] == summary["blocks"] and summary["workers_used"] >= 1


def test_3d_units_and_units_in_flight_shrink_to_fit_the_budget(model3d) -> None:
    """Half the budget bounds the input and output planes of the units in flight: a small
    budget cuts a volume into more units, then sends fewer at a time (at least one)."""
    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.memory import MemoryPlan
    from napari_blind_denoise.distributed import _VolumeJob

    volume = np.zeros((256, 32, 32), np.float32)  # a plane is 4 kB (in) + 4 kB (out)
    layout = check_image(volume, "ZYX")

    def job(budget_mb: float) -> _VolumeJob:
        plan = MemoryPlan(budget_mb, 16, 4, 1.0, 1)
        return _VolumeJob(model3d, volume, layout, (volume,), plan, TILE3, "unmasked", (),
                          "cpu", None)

    roomy = job(256)
    assert len(roomy.units(2)) == 2 and roomy.in_flight == 4
    # one-Z-row units: 28 planes in, up to 16 out; 4 of them in flight fill half the budget
    tight = job(2 * 4 * (28 + 16) * 4096 / 2**20)
    units = tight.units(2)
    assert tight.in_flight == 4 and len(units) == len(tight.grid.starts[0]) == 21
    assert max(tight._bytes(u) for u in units) * tight.in_flight <= tight.plan.budget_mb \
        * 2**20 / 2
    tiny = job(0.05)  # not even one unit fits half of it: one in flight
    assert len(tiny.units(2)) == 21 and tiny.in_flight == 1


def test_torch_threads_above_one_give_the_same_result(model, stack) -> None:
    """What the workers' thread rule relies on: with 2 or more torch threads (oneDNN for
    every convolution) a unit's rows do not depend on the count."""
    import torch

    from napari_blind_denoise.core.data.axes import validate_axes
    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.predict import (
        _Net,
        plan_units,
        predict_unit,
        tile_grid,
    )

    alone = run_to_completion(predict(model, stack[0], "YX", tile=TILE, device="cpu"))
    assert torch.get_num_threads() > 1 or os.cpu_count() == 1
    layout = check_image(stack[0], "YX")
    grid = tile_grid(model, layout, TILE.tile_size, TILE.overlap)
    net = _Net(model, torch.device("cpu"), None)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        for unit in plan_units(layout, grid, bands=2):
            block = layout.read(stack[0], unit.plane, slice(*unit.read), slice(0, 64))
            rows = predict_unit(net, model.norm, block, unit, validate_axes("CYX", (1, 64, 64)),
                                grid, TILE.overlap)
            assert np.array_equal(rows[0], alone[slice(*unit.keep)])
    finally:
        torch.set_num_threads(before)


def test_model_bytes_round_trip(model: TrainedModel, stack) -> None:
    from safetensors.torch import load

    blob = model_bytes(model)
    size = int.from_bytes(blob[:8], "little")  # a safetensors header: JSON, then the tensors
    config = json.loads(json.loads(blob[8:8 + size])["__metadata__"]["napari_blind_denoise"])
    assert config["config"] == json.loads(json.dumps(model.config.to_dict()))  # tuples: lists
    assert set(load(blob)) == set(model.model.state_dict())
    back = model_from_bytes(blob)
    assert back.config == model.config and back.norm == model.norm
    a = run_to_completion(predict(model, stack[0], "YX", tile=TILE, device="cpu"))
    b = run_to_completion(predict(back, stack[0], "YX", tile=TILE, device="cpu"))
    assert np.array_equal(a, b)
    with pytest.raises(Exception, match="not a"):
        model_from_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")


def test_missing_distributed_is_a_clear_error(model, tmp_path, monkeypatch, capsys) -> None:
    image = tmp_path / "in.npy"
    np.save(image, make_noisy((64, 64))[0].astype(np.float32))
    save_model(model, tmp_path / "model")
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    rc = main(["predict", str(image), "--model", str(tmp_path / "model"), "-o",
               str(tmp_path / "out.tif"), "--dask-workers", "2"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "pip install 'napari-blind-denoise[distributed]'" in err
    assert not (tmp_path / "out.tif").exists()
    from napari_blind_denoise.distributed import require_distributed

    with pytest.raises(InputError, match="distributed"):
        require_distributed()


def test_distributed_is_imported_only_when_used() -> None:
    import subprocess

    code = ("import sys, napari_blind_denoise.distributed, napari_blind_denoise.cli\n"
            "napari_blind_denoise.cli.build_parser()\n"
            "assert 'distributed' not in sys.modules\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
