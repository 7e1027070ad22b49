"""Channels: one model over the channels (``joint``) or one per channel (``separate``):
the switch round-trips, ``separate`` gives each channel what a one-channel run of it gives,
its models save and load as one folder, every method trains that way."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import numpy as np
import pytest
import zarr

from napari_blind_denoise.core import (
    DEFAULT_CHANNELS,
    METHODS,
    ChannelModels,
    ChannelSession,
    DenoiseConfig,
    ModelConfig,
    TrainedModel,
    TrainingSession,
    default_config,
    get_method,
    load_model,
    predict,
    run_to_completion,
    save_model,
    session_for,
    train,
)
from napari_blind_denoise.core.channels import ChannelView, channel_config, merge_tables
from napari_blind_denoise.core.methods import NotExportable
from napari_blind_denoise.core.pipeline import MemorySink, apply_pipeline, run_pipeline
from tests.conftest import make_noisy, tiny_config


def two_channels(size: int = 48) -> np.ndarray:
    """``CYX`` float32: two unlike channels (different scenes and ranges)."""
    a, _ = make_noisy((size, size), seed=0)
    b, _ = make_noisy((size, size), seed=7, gain=150.0, sigma=10.0)
    return np.stack([a, b])


def separate_config(method: str = "n2v", **train) -> DenoiseConfig:
    cfg = tiny_config(method, **{"steps": 6, **train})
    return replace(cfg, model=replace(cfg.model, channels="separate"))


def inputs_of(method: str, data: np.ndarray):
    """What ``method`` trains on: the image, or a pair for methods trained on pairs."""
    return (data, data[::-1, ::-1].copy() + 1.0) if get_method(method).inputs == 2 else data


def channel_input(method: str, data, c: int):
    if get_method(method).inputs == 2:
        return tuple(a[c] for a in data)
    return data[c]


# -- the switch -----------------------------------------------------------------------------

def test_channels_round_trip_through_the_config_dict() -> None:
    cfg = replace(default_config("n2s"), model=ModelConfig(channels="separate"))
    back = DenoiseConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg and back.model.channels == "separate"


def test_configs_saved_before_the_option_load_as_joint() -> None:
    old = default_config("n2v").to_dict()
    del old["model"]["channels"]
    assert DenoiseConfig.from_dict(old).model.channels == "joint"


def test_an_unknown_channel_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="channels must be one of"):
        ModelConfig(channels="per-channel")


def test_the_presets_carry_the_default() -> None:
    for method in METHODS:
        assert default_config(method).model.channels == DEFAULT_CHANNELS


def test_the_budget_is_shared_between_the_channels() -> None:
    cfg = tiny_config("n2v", steps=10, time_budget=30.0)
    one = channel_config(cfg, 3)
    assert one.train.steps == 4 and one.train.time_budget == 30.0


# -- views ----------------------------------------------------------------------------------

def test_channel_view_reads_and_writes_one_channel_of_a_zarr_array(tmp_path) -> None:
    data = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # Z C Y X
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=data.shape,
                        chunks=(1, 1, 4, 5), dtype="float32")
    z[...] = data
    view = ChannelView(z, 1, 2)
    assert view.shape == (2, 4, 5) and view.chunks == (1, 4, 5)
    assert np.array_equal(np.asarray(view), data[:, 2])
    assert np.array_equal(view[1, 1:3], data[1, 2, 1:3])
    assert np.array_equal(view[..., 2], data[:, 2, :, 2])
    view[0, :, 1:2] = -1.0
    expected = data.copy()
    expected[0, 2, :, 1:2] = -1.0
    assert np.array_equal(z[...], expected)


def test_merged_tables_number_the_entries_by_channel() -> None:
    tables = [{"a": 1.0, "channels": [{"channel": 0, "a": 1.0}]},
              {"a": 2.0, "channels": [{"channel": 0, "a": 2.0}]}]
    merged = merge_tables(tables)
    assert merged["a"] == 1.0
    assert merged["channels"] == [{"channel": 0, "a": 1.0}, {"channel": 1, "a": 2.0}]


# -- training and prediction ----------------------------------------------------------------

def test_a_training_session_refuses_separate_on_several_channels() -> None:
    with pytest.raises(ValueError, match="one model per channel"):
        TrainingSession(two_channels(), "CYX", separate_config(), device="cpu")


def test_session_for_picks_the_session_by_mode_and_channels() -> None:
    data = two_channels()
    assert isinstance(session_for(data, "CYX", separate_config(), device="cpu"),
                      ChannelSession)
    assert isinstance(session_for(data[0], "YX", separate_config(), device="cpu"),
                      TrainingSession)  # one channel: nothing to separate
    joint = tiny_config("n2v")
    assert isinstance(session_for(data, "CYX", joint, device="cpu"), TrainingSession)


@pytest.mark.parametrize("method", list(METHODS))
def test_separate_channels_equal_each_channel_trained_alone(method) -> None:
    """Every method: channel ``c`` of a separate run is bitwise what training channel ``c``
    alone, with the same seed and its share of the steps, and denoising it gives."""
    data = two_channels()
    cfg = separate_config(method)
    session = session_for(inputs_of(method, data), "CYX", cfg, device="cpu")
    result = run_to_completion(run_pipeline(session, data=data))
    trained = result.trained
    assert isinstance(trained, ChannelModels) and trained.channels == 2
    denoised = result.images["denoised"]
    assert denoised.shape == data.shape and np.isfinite(denoised).all()
    alone_cfg = channel_config(cfg, 2)
    for c in range(2):
        alone = run_to_completion(train(channel_input(method, inputs_of(method, data), c),
                                        "YX", alone_cfg, device="cpu"))
        assert isinstance(alone, TrainedModel)
        assert trained.models[c].info["steps"] == alone.info["steps"]
        out = run_to_completion(apply_pipeline(alone, data[c], "YX")).images["denoised"]
        assert np.array_equal(denoised[c], out), f"channel {c}"


def test_joint_training_is_one_model_over_the_channels() -> None:
    trained = run_to_completion(train(two_channels(), "CYX", tiny_config("n2v", steps=4),
                                      device="cpu"))
    assert isinstance(trained, TrainedModel) and trained.channels == 2


def test_steps_are_counted_over_the_channels_and_events_come_per_round() -> None:
    session = session_for(two_channels(), "CYX", separate_config(steps=5), device="cpu")
    gen = session.run()
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as end:
            trained = end.value
            break
    assert [e.step for e in events] == [2, 4, 6]  # 3 steps per channel, one round each
    assert events[-1].n_steps == 6 and events[-1].progress == 1.0
    assert trained.info["steps"] == 6
    assert [m.info["steps"] for m in trained.models] == [3, 3]
    assert trained.info["best_step"] == [m.info["best_step"] for m in trained.models]


def test_live_previews_show_every_channel() -> None:
    from napari_blind_denoise.core import PreviewOptions

    session = session_for(two_channels(), "CYX", separate_config(steps=8), device="cpu",
                          preview=PreviewOptions(every=2, size=32))
    previews = [e.preview for e in session.run() if e.preview is not None]
    assert previews and all(p.image.shape == (2, 32, 32) for p in previews)
    assert previews[0].step == 2  # each channel's model at its step 2


def test_a_stop_ends_every_channel_with_its_best_model() -> None:
    stop = threading.Event()
    session = session_for(two_channels(), "CYX", separate_config(steps=400), device="cpu")
    gen = run_pipeline(session, stop=stop)
    for _ in range(3):
        next(gen)
    stop.set()
    result = run_to_completion(gen)
    assert result.complete and result.trained.info["stopped_early"]
    assert all(m.info["steps"] <= 5 for m in result.trained.models)
    assert np.isfinite(result.images["denoised"]).all()


def test_extra_outputs_cover_every_channel() -> None:
    data = two_channels()
    session = session_for(data, "CYX", separate_config("nnet"), device="cpu")
    result = run_to_completion(run_pipeline(session, outputs=session.method.outputs()))
    assert result.images["noise_std"].shape == data.shape
    assert all(result.images["noise_std"][c].min() > 0 for c in range(2))
    assert len(result.curves["noise_curve"]) == 2  # one curve per channel, as a joint model
    assert [e["channel"] for e in result.tables["noise_model"]["channels"]] == [0, 1]


def test_predict_writes_each_channel_into_a_zarr_output(tmp_path) -> None:
    data = two_channels()
    trained = run_to_completion(train(data, "CYX", separate_config(), device="cpu"))
    expected = run_to_completion(predict(trained, data, "CYX", device="cpu"))
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="w", shape=data.shape,
                          chunks=(1, 48, 48), dtype="float32")
    run_to_completion(predict(trained, data, "CYX", out=out, device="cpu"))
    assert np.array_equal(out[...], expected)
    for c in range(2):
        alone = run_to_completion(predict(trained.models[c], data[c], "YX", device="cpu"))
        assert np.array_equal(expected[c], alone)


# -- saved models ---------------------------------------------------------------------------

def test_separate_models_save_and_load_as_one_folder(tmp_path) -> None:
    data = two_channels()
    trained = run_to_completion(train(data, "CYX", separate_config(), device="cpu"))
    folder = save_model(trained, tmp_path / "model")
    meta = json.loads((folder / "config.json").read_text())
    assert meta["format_version"] == 2 and len(meta["channel_models"]) == 2
    back = load_model(folder)
    assert isinstance(back, ChannelModels) and back.config == trained.config
    assert [m.norm for m in back.models] == [m.norm for m in trained.models]
    before = run_to_completion(predict(trained, data, "CYX", device="cpu"))
    after = run_to_completion(predict(back, data, "CYX", device="cpu"))
    assert np.array_equal(before, after)


def test_a_joint_model_keeps_the_format_older_versions_read(tmp_path) -> None:
    trained = run_to_completion(train(two_channels(), "CYX", tiny_config("n2v", steps=2),
                                      device="cpu"))
    meta = json.loads((save_model(trained, tmp_path / "m") / "config.json").read_text())
    assert meta["format_version"] == 1 and "channel_models" not in meta


def test_the_pipeline_saves_the_models_it_predicts_with(tmp_path) -> None:
    data = two_channels()
    trained = run_to_completion(train(data, "CYX", separate_config(), device="cpu"))
    result = run_to_completion(apply_pipeline(trained, data, "CYX", sink=MemorySink(),
                                              model_dir=tmp_path / "m"))
    back = load_model(result.model_path)
    again = run_to_completion(apply_pipeline(back, data, "CYX")).images["denoised"]
    assert np.array_equal(again, result.images["denoised"])


def test_a_bioimageio_package_refuses_one_model_per_channel(tmp_path) -> None:
    from napari_blind_denoise.core import export_bioimageio

    trained = run_to_completion(train(two_channels(), "CYX", separate_config(steps=2),
                                      device="cpu"))
    with pytest.raises(NotExportable, match="one model per channel"):
        export_bioimageio(trained, tmp_path / "m.zip")
