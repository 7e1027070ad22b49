"""Model folders: round trip, metadata, corruption, no pickle."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import napari_blind_denoise
from napari_blind_denoise.core import (
    CheckpointError,
    NormStats,
    TileConfig,
    TrainedModel,
    load_model,
    noise_curve,
    predict,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.core.checkpoint import CONFIG, WEIGHTS
from tests.conftest import make_noisy, tiny_config


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    return make_noisy((64, 64), seed=5)[0]


@pytest.fixture(scope="module")
def trained(image: np.ndarray) -> TrainedModel:
    cfg = tiny_config("n2s", steps=6, batch_norm=True)
    return run_to_completion(train(image, "YX", cfg, device="cpu"))


@pytest.fixture
def folder(trained: TrainedModel, tmp_path: Path) -> Path:
    return save_model(trained, tmp_path / "model")


def prediction(trained: TrainedModel, image: np.ndarray) -> np.ndarray:
    tile = TileConfig(tile_size=64, overlap=16)
    return run_to_completion(predict(trained, image, "YX", tile=tile, device="cpu"))


def test_round_trip(trained: TrainedModel, folder: Path, image: np.ndarray) -> None:
    loaded = load_model(folder)
    assert loaded.config == trained.config
    assert loaded.norm == trained.norm
    assert loaded.axes == trained.axes and loaded.method == "n2s"
    assert loaded.info["steps"] == trained.info["steps"]
    assert not loaded.model.training
    np.testing.assert_array_equal(prediction(loaded, image), prediction(trained, image))


def test_config_json(trained: TrainedModel, folder: Path) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    assert meta["format"] == "napari-blind-denoise/model"
    assert meta["method"] == "n2s"
    assert meta["axes"] == "YX"
    assert meta["package_version"] == napari_blind_denoise.__version__
    assert NormStats.from_dict(meta["normalization"]) == trained.norm
    assert meta["config"]["model"]["batch_norm"] is True
    assert meta["config"]["train"]["steps"] == 6


def test_weights_are_safetensors_not_pickle(trained: TrainedModel, folder: Path) -> None:
    raw = (folder / WEIGHTS).read_bytes()
    assert not raw.startswith(b"\x80")  # pickle protocol marker
    assert not raw.startswith(b"PK")  # torch.save zip archive
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    state = trained.model.state_dict()
    assert set(header) == set(state)
    for name, entry in header.items():
        assert entry["shape"] == list(state[name].shape)
        assert set(entry) == {"dtype", "shape", "data_offsets"}


def test_save_overwrites_atomically(trained: TrainedModel, folder: Path) -> None:
    save_model(trained, folder)  # again, over the existing folder
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]
    assert sorted(p.name for p in folder.iterdir()) == sorted([CONFIG, WEIGHTS])
    load_model(folder)


def test_exception_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_exception_not_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a napari-blind-denoise model folder"):
        load_model(tmp_path / "empty")


def test_exception_missing_weights(folder: Path) -> None:
    (folder / WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match=WEIGHTS):
        load_model(folder)


@pytest.mark.parametrize("garbage", [
    b"\x00\x01garbage bytes that are not a safetensors file" * 10,
    b"\xff" * 64,
    b"",
])
def test_exception_corrupt_weights(folder: Path, garbage: bytes) -> None:
    (folder / WEIGHTS).write_bytes(garbage)
    with pytest.raises(CheckpointError, match="corrupt or not a safetensors file") as exc:
        load_model(folder)
    assert str(folder / WEIGHTS) in str(exc.value)


def test_exception_truncated_weights(folder: Path) -> None:
    raw = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(folder)


def test_exception_corrupt_json(folder: Path) -> None:
    (folder / CONFIG).write_text('{"format": "napari-blind-denoise/model", ')
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)


def test_exception_binary_json(folder: Path) -> None:
    (folder / CONFIG).write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_model(folder)


@pytest.mark.parametrize("foreign", [{"a": 1}, [1, 2], "text", {"format": "other/model"}])
def test_exception_foreign_json(folder: Path, foreign) -> None:
    (folder / CONFIG).write_text(json.dumps(foreign))
    with pytest.raises(CheckpointError, match="not a napari-blind-denoise model configuration"):
        load_model(folder)


def test_exception_newer_format(folder: Path) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    meta["format_version"] = 99
    (folder / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="newer"):
        load_model(folder)


@pytest.mark.parametrize("key", ["config", "normalization", "axes"])
def test_exception_incomplete_json(folder: Path, key: str) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    del meta[key]
    (folder / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="incomplete or invalid"):
        load_model(folder)


def test_exception_invalid_config_value(folder: Path) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    meta["config"]["model"]["depth"] = 0
    (folder / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="incomplete or invalid"):
        load_model(folder)


def test_exception_architecture_mismatch(folder: Path) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    meta["config"]["model"]["base_channels"] = 12
    (folder / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="do not match the stored architecture"):
        load_model(folder)


def test_checkpoint_error_is_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


OLD = Path(__file__).resolve().parents[1] / "data" / "checkpoints-v0.1.0"


@pytest.mark.parametrize("method", ["n2s", "nnet"])
def test_checkpoints_of_version_0_1_0_still_load(method: str) -> None:
    """Folders written before the method layer load and predict exactly as they did."""
    trained = load_model(OLD / method)
    assert trained.method == method and trained.spec.id == method
    noisy = np.load(OLD / "input.npy")
    out = run_to_completion(predict(trained, noisy, "YX"))
    np.testing.assert_allclose(out, np.load(OLD / f"{method}_prediction.npy"), rtol=1e-6,
                               atol=1e-4)
    if method == "nnet":
        assert trained.info["noise_correction"] is not None
        np.testing.assert_allclose(np.stack(noise_curve(trained, 8)),
                                   np.load(OLD / "nnet_noise_curve.npy"), rtol=1e-6)


def test_checkpoint_of_unknown_method_refused(trained: TrainedModel, folder: Path) -> None:
    meta = json.loads((folder / CONFIG).read_text())
    meta["config"]["method"] = "no-such-method"
    (folder / CONFIG).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unknown method 'no-such-method'"):
        load_model(folder)
