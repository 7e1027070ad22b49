"""The denoised layer while prediction runs: shown from the start, re-read (throttled) as
rows are written, handed over to the committed store's layer, removed on Stop."""

from __future__ import annotations

import time

import numpy as np
import pytest
import zarr

from napari_blind_denoise.core import save_model, train
from napari_blind_denoise.core.train import run_to_completion
from napari_blind_denoise.gui._layers import META_KEY
from napari_blind_denoise.gui._live import REFRESH_SECONDS
from tests.conftest import make_noisy, tiny_config
from tests.gui.conftest import run_job

pytestmark = pytest.mark.gui

TILE_DELAY = 0.1  # s added to every tile: 32 tiles of the stack below take >= 3.2 s
N_TILES = 2 * 4 * 4  # 2 planes, 192 px in 64-px tiles with 16 px overlap: 4 x 4 per plane


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An n2v model of 3 steps: what it predicts does not matter here, only when."""
    trained = run_to_completion(train(make_noisy((64, 64), seed=1)[0], "YX",
                                      tiny_config("n2v", steps=3)))
    return save_model(trained, tmp_path_factory.mktemp("models") / "tiny-n2v")


@pytest.fixture
def slow_tiles(monkeypatch):
    """Every tile of prediction takes ``TILE_DELAY`` longer (a big stack, in seconds)."""
    import importlib

    predict = importlib.import_module("napari_blind_denoise.core.predict")
    call = predict._Net.__call__

    def slow(self, tile):
        time.sleep(TILE_DELAY)
        return call(self, tile)

    monkeypatch.setattr(predict._Net, "__call__", slow)


@pytest.fixture
def stack_layer(viewer):
    stack = np.stack([make_noisy((192, 192), seed=s)[0] for s in (2, 3)])
    layer = viewer.add_image(stack, name="stack", scale=(3.0, 0.5, 0.5),
                             translate=(0.0, 10.0, -4.0))
    viewer.dims.set_current_step(0, 0)  # plane 0 on screen: it fills first
    return layer


def _ours(viewer) -> list[tuple[str, str]]:
    """``(name, role)`` of every layer this plugin added."""
    return [(x.name, x.metadata[META_KEY]["role"]) for x in viewer.layers
            if isinstance(x.metadata.get(META_KEY), dict)]


def _record_refreshes(live, runner):
    """After each refresh of ``live``: (job running, store path, NaN pixels on screen)."""
    seen = []
    refresh = live.refresh

    def recording():
        refresh()
        if live.layer is not None:
            shown = np.asarray(live.layer._slice.image.raw)
            seen.append((runner.running, str(live.layer.data.store.root),
                         int(np.isnan(shown).sum()), shown.size))

    live.refresh = recording
    return seen


def test_live_layer_fills_then_becomes_the_committed_layer(
        viewer, apply_widget, tiny_model, stack_layer, slow_tiles, qtbot, tmp_path):
    apply_widget.add_model_path(tiny_model)
    apply_widget.layer_picker.select(stack_layer)
    apply_widget.tile_size.setText("64")
    live = apply_widget.live
    seen = _record_refreshes(live, apply_widget.runner)
    t0 = time.monotonic()
    worker = apply_widget.start()
    assert worker is not None
    qtbot.waitUntil(lambda: live.layer is not None, timeout=10_000)
    layer = live.layer
    assert apply_widget.runner.running and apply_widget.progress.value() < 1000
    assert _ours(viewer) == [("stack denoised", "live")]
    assert isinstance(layer.data, zarr.Array) and layer.data.read_only
    assert ".stack_n2v.zarr.tmp-" in str(layer.data.store.root)
    # placed like the final layer: the source's scale, translation and contrast limits
    assert tuple(layer.scale) == (3.0, 0.5, 0.5)
    assert tuple(layer.translate) == (0.0, 10.0, -4.0)
    assert tuple(layer.contrast_limits) == tuple(stack_layer.contrast_limits)
    # the user adjusts it and adds a layer above it while it fills
    layer.contrast_limits_range = (-1000.0, 1000.0)
    layer.contrast_limits = (-500.0, 500.0)
    viewer.add_image(np.zeros((8, 8), np.float32), name="above")
    qtbot.waitUntil(lambda: not apply_widget.runner.running, timeout=60_000)
    seconds = time.monotonic() - t0

    filling = [(nans, size) for running, path, nans, size in seen
               if running and ".tmp-" in path]
    assert any(0 < nans < size for nans, size in filling), f"no partial view: {seen}"
    counts = [nans for nans, _ in filling]
    assert len(set(counts)) >= 2, f"what was shown never changed: {seen}"
    assert counts == sorted(counts, reverse=True)
    # throttled: at most one refresh per REFRESH_SECONDS (and one at the end), not per tile
    assert live.refreshes < N_TILES
    assert live.refreshes <= seconds / REFRESH_SECONDS + 2

    _check_handed_over(viewer, apply_widget, layer, tmp_path / "applied")


def _check_handed_over(viewer, apply_widget, live_layer, folder):
    """One denoised layer is left: the committed store's, in the live layer's place and
    with the contrast limits the user set on it."""
    committed = apply_widget.result.images["denoised"]
    assert _ours(viewer) == [("stack denoised", "denoised")]
    final = viewer.layers["stack denoised"]
    assert final is not live_layer and apply_widget.live.layer is None
    assert str(final.data.store.root) == str(committed)
    assert final.metadata[META_KEY]["store"] == str(committed)
    stored = zarr.open_array(str(committed), mode="r")[:]
    assert np.isfinite(stored).all()
    np.testing.assert_array_equal(np.asarray(final.data[:]), stored)
    assert [p.name for p in folder.iterdir()] == ["stack_n2v.zarr"]
    names = [x.name for x in viewer.layers]
    assert names.index("stack denoised") == names.index("above") - 1
    assert tuple(final.contrast_limits) == (-500.0, 500.0)
    assert tuple(final.contrast_limits_range) == (-1000.0, 1000.0)
    assert tuple(final.scale) == (3.0, 0.5, 0.5)


def test_stop_removes_the_live_layer_and_its_store(
        viewer, apply_widget, tiny_model, stack_layer, slow_tiles, qtbot, tmp_path):
    apply_widget.add_model_path(tiny_model)
    apply_widget.layer_picker.select(stack_layer)
    apply_widget.tile_size.setText("64")
    apply_widget.start()
    qtbot.waitUntil(lambda: apply_widget.live.layer is not None
                    and apply_widget.progress.value() > 0, timeout=10_000)
    tmp = apply_widget.live.layer.data.store.root
    apply_widget.stop_button.click()
    qtbot.waitUntil(lambda: not apply_widget.runner.running, timeout=30_000)
    assert not apply_widget.result.complete
    assert _ours(viewer) == []
    assert apply_widget.live.layer is None
    assert not tmp.exists()
    assert list((tmp_path / "applied").iterdir()) == []


def test_closing_the_dock_removes_the_live_layer(
        viewer, apply_widget, tiny_model, stack_layer, slow_tiles, qtbot, tmp_path):
    apply_widget.add_model_path(tiny_model)
    apply_widget.layer_picker.select(stack_layer)
    apply_widget.tile_size.setText("64")
    runner = apply_widget.runner
    apply_widget.start()
    qtbot.waitUntil(lambda: apply_widget.live.layer is not None, timeout=10_000)
    viewer.window.remove_dock_widget(apply_widget)
    assert _ours(viewer) == []
    qtbot.waitUntil(lambda: not runner.running, timeout=30_000)
    assert _ours(viewer) == []
    assert list((tmp_path / "applied").iterdir()) == []


def test_train_widget_live_layer_follows_the_commit(viewer, train_widget, qtbot):
    """n2v has no extra outputs: the store is committed before the comparison with a
    classical filter; the live layer reads the committed store until the result arrives."""
    from napari_blind_denoise.io import StoreState

    live = train_widget.live
    states = []
    follow = live._follow

    def recording(state):
        follow(state)
        states.append((state, live.layer is not None and str(live.layer.data.store.root)))

    live._follow = recording
    small = np.stack([make_noisy((96, 96), seed=s)[0] for s in (2, 3)])
    train_widget.layer_picker.select(viewer.add_image(small, name="stack"))
    train_widget.steps.setValue(5)
    train_widget.tile_size.setValue(64)
    run_job(qtbot, train_widget, train_widget.start_training)
    committed = train_widget.result.images["denoised"]
    assert [(s.writing, s.path is not None) for s, _ in states] == [(True, True),
                                                                    (False, True)]
    assert states[1] == (StoreState("denoised", committed, False), str(committed))
    assert _ours(viewer) == [("stack denoised", "denoised")]
    assert str(viewer.layers["stack denoised"].data.store.root) == str(committed)


def test_train_widget_stop_during_prediction_removes_the_live_layer(
        viewer, train_widget, stack_layer, slow_tiles, qtbot, tmp_path):
    train_widget.layer_picker.select(stack_layer)
    train_widget.steps.setValue(5)
    train_widget.tile_size.setValue(64)
    train_widget.start_training()
    qtbot.waitUntil(lambda: train_widget._phase == "predict", timeout=60_000)
    assert _ours(viewer) == [("stack denoised", "live")]
    train_widget.stop()
    qtbot.waitUntil(lambda: not train_widget.runner.running, timeout=30_000)
    assert _ours(viewer) == []
    left = [p.name for p in (tmp_path / "results").iterdir() if p.name != "models"]
    assert not left, f"stores left behind: {left}"


def test_unwritten_regions_show_the_layer_below_and_a_vanished_store_is_skipped(
        viewer, tmp_path):
    """Driven by hand: NaN (not written yet) is drawn transparent, so the input shows
    through; an event about a store already gone adds nothing; a commit repoints."""
    from napari_blind_denoise.core import Phase, PredictEvent
    from napari_blind_denoise.gui._live import LiveLayer
    from napari_blind_denoise.io import StoreSink, StoreState

    source = viewer.add_image(np.full((64, 64), 50, np.float32), name="input",
                              contrast_limits=(0, 100), colormap="gray")
    live = LiveLayer(viewer, interval=0.0)
    live.begin(source)
    live.on_event(StoreState("denoised", tmp_path / ".gone.zarr.tmp-x", True))
    assert live.layer is None and _ours(viewer) == []

    sink = StoreSink(tmp_path, "input_n2v")
    handle = sink.open("denoised", (64, 64), "YX", {})
    live.on_event(sink.states()["denoised"])
    live.on_event(Phase("predict", "denoised"))
    handle.array[:32] = 100.0  # the top half is written
    live.on_event(PredictEvent(tile=1, n_tiles=2, elapsed=0.1))
    shot = viewer.screenshot(canvas_only=True, flash=False)
    h, w = shot.shape[:2]
    top, bottom = shot[h // 4, w // 2, :3], shot[3 * h // 4, w // 2, :3]
    assert top.min() >= 250, top  # 100 of (0, 100): white
    assert bottom.min() >= 120 and bottom.max() <= 136, bottom  # the input's 50: grey

    handle.array[32:] = 0.0
    final = handle.commit()
    live.on_event(sink.states()["denoised"])
    assert str(live.layer.data.store.root) == str(final)
    assert live.layer.metadata[META_KEY]["store"] == str(final)
    np.testing.assert_array_equal(live.layer._slice.image.raw[32:], 0.0)
    live.remove()
    assert _ours(viewer) == []
