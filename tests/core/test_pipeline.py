"""The one pipeline: train -> keep best -> save -> predict -> extra outputs, one stop event."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.core import (
    MemorySink,
    Phase,
    PredictEvent,
    TileConfig,
    TrainEvent,
    TrainingSession,
    apply_pipeline,
    get_method,
    load_model,
    run_pipeline,
)
from tests.conftest import make_noisy, tiny_config


@dataclass
class Handle:
    array: np.ndarray
    log: list = field(default_factory=list)
    name: str = ""

    def commit(self):
        self.log.append(("commit", self.name))
        return self.array

    def abort(self) -> None:
        self.log.append(("abort", self.name))


class RecordingSink:
    """A memory sink that records what was opened, committed and aborted."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def open(self, name, shape, axes, attrs):
        self.log.append(("open", name))
        assert attrs["role"] == name
        return Handle(np.zeros(shape, np.float32), self.log, name)


def drive(gen, on_event=None):
    events = []
    while True:
        try:
            ev = next(gen)
        except StopIteration as done:
            return done.value, events
        events.append(ev)
        if on_event is not None:
            on_event(ev)


@pytest.fixture
def image() -> np.ndarray:
    return make_noisy((64, 64), seed=2)[0]


def test_run_pipeline_events_and_outputs(image, tmp_path: Path) -> None:
    session = TrainingSession(image, "YX", tiny_config("nnet", steps=6))
    sink = RecordingSink()
    result, events = drive(run_pipeline(
        session, sink=sink, tile=TileConfig(tile_size=32, overlap=8),
        outputs=session.method.outputs(), model_dir=tmp_path / "model"))
    kinds = [type(e) for e in events]
    assert kinds[:6] == [TrainEvent] * 6 and kinds[6] is Phase
    assert [e.name for e in events if isinstance(e, Phase)] == ["predict"] + ["output"] * 5
    assert PredictEvent in kinds
    names = [o.name for o in get_method("nnet").outputs()]
    assert list(result.images) == ["denoised", "noise_std", "residual"]
    assert set(result.curves) == {"noise_curve", "measured_noise_curve"}
    assert set(result.tables) == {"noise_model"}
    assert sink.log == [("open", "denoised"), ("open", names[0]), ("open", names[1]),
                        ("commit", "noise_std"), ("commit", "residual"),
                        ("commit", "denoised")]
    np.testing.assert_allclose(result.images["residual"], image - result.images["denoised"],
                               atol=1e-4)
    assert result.complete and result.outputs_complete
    assert load_model(result.model_path).info["steps"] == 6


def test_stop_in_training_keeps_best_and_still_predicts(image) -> None:
    stop = threading.Event()
    session = TrainingSession(image, "YX", tiny_config("n2v", steps=500))

    def press(ev):
        if isinstance(ev, TrainEvent) and ev.step == 3:
            stop.set()

    result, _ = drive(run_pipeline(session, stop=stop), press)
    assert result.trained.info["stopped_early"] and result.trained.info["steps"] <= 4
    assert result.complete and result.images["denoised"].any()
    assert not stop.is_set(), "the stop request is used up by training"


def test_stop_in_prediction_abandons_the_output(image) -> None:
    trained = drive(run_pipeline(TrainingSession(image, "YX", tiny_config("n2s", steps=3))))[0]
    stop, sink = threading.Event(), RecordingSink()
    result, _ = drive(apply_pipeline(trained.trained, image, "YX", sink=sink, stop=stop,
                                     tile=TileConfig(tile_size=16, overlap=4)),
                      lambda ev: isinstance(ev, PredictEvent) and stop.set())
    assert not result.complete and result.images == {}
    assert sink.log == [("open", "denoised"), ("abort", "denoised")]


def test_stop_in_extra_outputs_keeps_the_denoised_image(image) -> None:
    trained = drive(run_pipeline(TrainingSession(image, "YX", tiny_config("nnet", steps=3))))[0]
    stop, sink = threading.Event(), RecordingSink()

    def press(ev):
        if isinstance(ev, Phase) and ev.name == "output":
            stop.set()

    result, _ = drive(apply_pipeline(trained.trained, image, "YX", sink=sink, stop=stop,
                                     outputs=trained.trained.spec.outputs()), press)
    assert result.complete and not result.outputs_complete
    assert list(result.images) == ["denoised"] and result.curves == {} and result.tables == {}
    assert ("abort", "noise_std") in sink.log and ("commit", "denoised") in sink.log
    assert ("commit", "noise_std") not in sink.log


def test_failure_aborts_everything(image, monkeypatch) -> None:
    from napari_blind_denoise.core.methods import nnet

    trained = drive(run_pipeline(TrainingSession(image, "YX", tiny_config("nnet", steps=3))))[0]

    def broken(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(nnet, "write_residual", broken)
    sink = RecordingSink()
    with pytest.raises(OSError, match="disk full"):
        drive(apply_pipeline(trained.trained, image, "YX", sink=sink,
                             outputs=trained.trained.spec.outputs()))
    assert not [e for e in sink.log if e[0] == "commit"]
    assert {name for act, name in sink.log if act == "abort"} == {"denoised", "noise_std",
                                                                    "residual"}


def test_memory_sink_default(image) -> None:
    result, _ = drive(run_pipeline(TrainingSession(image, "YX", tiny_config("n2s", steps=2))))
    assert isinstance(result.images["denoised"], np.ndarray)
    assert isinstance(MemorySink().open("x", (2, 3), "YX", {}).array, np.ndarray)


def test_hand_back_check_fires_on_identity_and_not_on_a_good_result(image) -> None:
    from napari_blind_denoise.core.data.axes import validate_axes
    from napari_blind_denoise.core.pipeline import PipelineResult, check_result

    noisy, clean = make_noisy((128, 128), seed=4)
    trained = drive(run_pipeline(TrainingSession(image, "YX", tiny_config("n2s", steps=2))))[0]
    layout = validate_axes("YX", noisy.shape)
    kept = PipelineResult(trained.trained)
    check_result(kept, noisy, noisy.copy(), layout)
    assert kept.removed_noise == pytest.approx(0.0, abs=1e-6)
    assert len(kept.warnings) == 1 and "no better than the input" in kept.warnings[0]
    assert "larger blind spot" in kept.warnings[0]
    good = PipelineResult(trained.trained)
    check_result(good, noisy, clean, layout)
    assert good.removed_noise > 0.8 and good.warnings == []


@pytest.mark.parametrize(("spot", "expected"), [
    ("pixel", tuple(range(8))), ("5x5", tuple(range(8))), ("3x7", (0, 2, 4, 6)),
    ("3x1", (0, 2, 4, 6))])
def test_oblong_blind_spots_keep_the_axes_in_training_and_tta(spot: str, expected) -> None:
    from dataclasses import replace

    from napari_blind_denoise.core.predict import _Net
    from napari_blind_denoise.core.trained import TrainedModel

    cfg = tiny_config("n2s")
    cfg = replace(cfg, mask=replace(cfg.mask, blind_spot=spot))
    method = get_method("n2s")
    assert method.transforms(cfg) == expected
    import torch

    from napari_blind_denoise.core import NormStats

    trained = TrainedModel(method.network(cfg), cfg, NormStats(low=(0.0,), high=(1.0,)), "YX")
    assert _Net(trained, torch.device("cpu"), None, tta=True).transforms == expected
    assert _Net(trained, torch.device("cpu"), None, tta=False).transforms == (0,)


def test_tta_averages_the_eight_transforms(image) -> None:
    import torch

    from napari_blind_denoise.core import predict, run_to_completion
    from napari_blind_denoise.core.predict import dihedral, undo_dihedral

    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    for k in range(8):
        assert torch.equal(undo_dihedral(dihedral(x, k), k), x)
    assert len({tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}) == 8
    trained = drive(run_pipeline(TrainingSession(image, "YX", tiny_config("n2v", steps=3))))[0]
    model = trained.trained
    plain = run_to_completion(predict(model, image, "YX", tile=TileConfig.for_size(64)))
    tta = run_to_completion(predict(model, image, "YX", tile=TileConfig.for_size(64, tta=True)))
    norm = model.norm
    x = torch.from_numpy(norm.normalize(image[None]))[None]
    with torch.no_grad():
        manual = sum(undo_dihedral(model.model(dihedral(x, k)), k) for k in range(8)) / 8
    np.testing.assert_allclose(tta, norm.denormalize(manual[0].numpy())[0], rtol=1e-4,
                               atol=1e-2)
    assert not np.allclose(tta, plain)


def _untrained(method_id: str, **mask):
    from dataclasses import replace

    from napari_blind_denoise.core import NormStats
    from napari_blind_denoise.core.trained import TrainedModel

    cfg = tiny_config(method_id)
    if mask:
        cfg = replace(cfg, mask=replace(cfg.mask, **mask))
    method = get_method(method_id)
    return TrainedModel(method.network(cfg), cfg, NormStats(low=(0.0,), high=(1.0,)), "YX")


def test_auto_tta_is_on_for_a_small_image_with_a_one_pass_blind_spot_method() -> None:
    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.predict import TTA_AUTO_MEGAPIXELS, resolve_tta

    small = check_image(np.zeros((512, 512), np.float32), "YX")
    for method_id in ("n2v", "n2s", "nnet"):
        trained = _untrained(method_id, blind_spot="pixel")
        assert resolve_tta("auto", trained, small) is True
        assert resolve_tta(False, trained, small) is False
    n2s = _untrained("n2s", blind_spot="pixel")
    # the phase average is already grid_period**2 passes
    assert resolve_tta("auto", n2s, small, "phases") is False
    assert resolve_tta(True, n2s, small, "phases") is True
    # 7 extra passes over this stack exceed the limit; 3 (an oblong block's 4) do not
    planes = int(TTA_AUTO_MEGAPIXELS * 1e6 / 7 / 512**2) + 1
    stack = np.broadcast_to(np.zeros((1, 512, 512), np.float32), (planes, 512, 512))
    big = check_image(stack, "ZYX")
    assert resolve_tta("auto", n2s, big) is False
    assert resolve_tta("auto", _untrained("n2s", blind_spot="3x7"), big) is True


def test_auto_tta_stays_off_for_other_methods() -> None:
    from napari_blind_denoise.core.data.validate import check_image
    from napari_blind_denoise.core.predict import resolve_tta

    small = check_image(np.zeros((64, 64), np.float32), "YX")
    for method_id in ("s2s", "bsn", "n2n"):  # an ensemble; 4 branches; not measured
        trained = _untrained(method_id, blind_spot="pixel")
        assert resolve_tta("auto", trained, small) is False


def test_tile_config_refuses_an_unknown_tta() -> None:
    with pytest.raises(ValueError, match="tta"):
        TileConfig(tta="yes")
    assert TileConfig.for_size(64, tta="auto").tta == "auto"


def test_the_pipeline_resolves_auto_tta_and_reports_it(image) -> None:
    from napari_blind_denoise.core import predict, run_to_completion

    config = tiny_config("n2s", steps=3)
    session = TrainingSession(image, "YX", config)
    auto = drive(run_pipeline(session, tile=TileConfig.for_size(64, tta="auto")))[0]
    assert auto.tta is True
    model = auto.trained
    on = run_to_completion(predict(model, image, "YX", tile=TileConfig.for_size(64, tta=True)))
    np.testing.assert_array_equal(auto.images["denoised"], on)
