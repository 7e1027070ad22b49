"""StoreSink: where each output can be read while the pipeline writes it (the widgets' live
layer), and that the "not written yet" fill never reaches a committed store."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import zarr

from napari_blind_denoise.core import (
    MemorySink,
    Phase,
    PredictEvent,
    TileConfig,
    apply_pipeline,
    train,
)
from napari_blind_denoise.core.train import run_to_completion
from napari_blind_denoise.io import StoreSink, StoreState
from tests.conftest import make_noisy, tiny_config

TILE = TileConfig(tile_size=32, overlap=8)


@pytest.fixture(scope="module")
def trained():
    return run_to_completion(train(make_noisy((64, 64), seed=3)[0], "YX",
                                   tiny_config("n2v", steps=3)))


@pytest.fixture(scope="module")
def stack():
    return np.stack([make_noisy((96, 96), seed=s)[0] for s in (4, 5)])  # ZYX, 2 planes


def _states_at_each_event(gen, sink):
    """Drive ``gen``; per event, a copy of what the sink says and what its denoised store
    holds (number of pixels read as NaN)."""
    seen = []
    while True:
        try:
            ev = next(gen)
        except StopIteration as done:
            return done.value, seen
        state = sink.states().get("denoised")
        nans = None
        if state is not None and state.writing:
            nans = int(np.isnan(zarr.open_array(str(state.path), mode="r")[:]).sum())
        seen.append((ev, state, nans))


def test_the_store_is_readable_while_written_then_committed(trained, stack, tmp_path):
    sink = StoreSink(tmp_path, "stack_n2v")
    assert sink.states() == {}
    result, seen = _states_at_each_event(
        apply_pipeline(trained, stack, "ZYX", sink=sink, tile=TILE), sink)
    phase = next(s for ev, s, _ in seen if isinstance(ev, Phase))
    # the store is open (and empty: every pixel NaN) when the phase starts, before any tile
    first = next(i for i, (ev, _, _) in enumerate(seen) if isinstance(ev, Phase))
    assert phase.writing and phase.path.name.startswith(".stack_n2v.zarr.tmp-")
    assert seen[first][2] == stack.size
    during = [n for ev, _, n in seen if isinstance(ev, PredictEvent)]
    assert len(set(during)) >= 3, "rows appear in the store as prediction goes on"
    assert during == sorted(during, reverse=True) and 0 < min(during) < stack.size
    final = sink.states()["denoised"]
    assert final == StoreState("denoised", tmp_path / "stack_n2v.zarr", False)
    assert result.images["denoised"] == final.path
    assert not phase.path.exists(), "the temporary store was renamed"
    committed = zarr.open_array(str(final.path), mode="r")[:]
    assert np.isfinite(committed).all()
    in_memory = apply_pipeline(trained, stack, "ZYX", sink=MemorySink(), tile=TILE)
    expected = run_to_completion(in_memory).images["denoised"]
    np.testing.assert_array_equal(committed, expected)


def test_a_stopped_output_is_reported_removed(trained, stack, tmp_path):
    sink = StoreSink(tmp_path, "stack_n2v")
    stop = threading.Event()
    gen = apply_pipeline(trained, stack, "ZYX", sink=sink, tile=TILE, stop=stop)
    while True:
        try:
            ev = next(gen)
        except StopIteration as done:
            result = done.value
            break
        if isinstance(ev, PredictEvent) and ev.tile == 3:
            stop.set()
    assert not result.complete
    assert sink.states() == {"denoised": StoreState("denoised", None, False)}
    assert list(tmp_path.iterdir()) == []
