"""Live previews during training: when they arrive, what they hold, and that they change
nothing in training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    Preview,
    PreviewOptions,
    TrainingSession,
    run_to_completion,
)
from napari_blind_denoise.core.data.axes import validate_axes
from napari_blind_denoise.core.preview import centre_crop
from tests.conftest import make_noisy, tiny_config
from tests.core.methods.test_self2self import tiny_config as tiny_s2s


def collect(session: TrainingSession):
    gen = session.run()
    events = []
    while True:
        try:
            events.append(next(gen))
        except StopIteration as end:
            return events, end.value


def test_previews_arrive_every_k_steps_with_the_crop_shape() -> None:
    noisy, _ = make_noisy((64, 96))
    session = TrainingSession(noisy, "YX", tiny_config(steps=9), device="cpu",
                              preview=PreviewOptions(every=4, size=42))
    events, _ = collect(session)
    shown = {e.step: e.preview for e in events if e.preview is not None}
    assert sorted(shown) == [4, 8]  # every 4 steps; none on the last (the result follows)
    for step, preview in shown.items():
        assert isinstance(preview, Preview) and preview.step == step
        assert preview.image.shape == (1, 40, 40)  # 42 rounded down to the divisor, 4
        assert preview.image.dtype == np.float32 and not preview.image.flags.writeable
        assert (preview.plane, preview.top, preview.left) == ((), 12, 28)  # the centre
        # in intensity units, like the image (offset 100 + up to 400)
        assert 0 < float(np.median(preview.image)) < 600
    assert not np.array_equal(shown[4].image, shown[8].image)  # the model moved on


def test_no_previews_unless_asked() -> None:
    noisy, _ = make_noisy((48, 48))
    events, _ = collect(TrainingSession(noisy, "YX", tiny_config(steps=4), device="cpu"))
    assert all(e.preview is None for e in events)


@pytest.mark.parametrize("method", ["n2v", "s2s"])
def test_previews_change_nothing_in_training(method: str) -> None:
    noisy, _ = make_noisy((48, 48))
    config = tiny_config(steps=6) if method == "n2v" else tiny_s2s(steps=6)
    runs = []
    for preview in (None, PreviewOptions(every=1, size=32)):
        events, trained = collect(TrainingSession(noisy, "YX", config, device="cpu",
                                                  preview=preview))
        runs.append(([e.loss for e in events], trained.model.state_dict()))
    (loss_a, state_a), (loss_b, state_b) = runs
    assert loss_a == loss_b
    for key, value in state_a.items():
        torch.testing.assert_close(value, state_b[key], rtol=0, atol=0)


def test_s2s_preview_is_a_few_pass_ensemble_of_the_middle_plane() -> None:
    """A stack: the crop comes from the middle plane; the s2s preview averages
    ``PREVIEW_PASSES`` stochastic passes (batched), not the full ensemble."""
    from napari_blind_denoise.core.methods.self2self import PREVIEW_PASSES

    stack = np.stack([make_noisy((48, 48), seed=s)[0] for s in range(3)])
    config = tiny_s2s(steps=4)
    session = TrainingSession(stack, "ZYX", config, device="cpu",
                              preview=PreviewOptions(every=3, size=32))
    calls = []
    gen = session.run()
    first = next(gen)  # the network exists now: count its calls from here on
    session.model.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    events = [first, *gen]
    previews = [e.preview for e in events if e.preview is not None]
    assert len(previews) == 1 and previews[0].step == 3
    assert previews[0].plane == (1,) and previews[0].image.shape == (1, 32, 32)
    assert np.isfinite(previews[0].image).all()
    # training steps call the net with the batch (2); the preview with batches of passes
    preview_calls = [n for n in calls if n != config.train.batch_size]
    batch = config.self2self.pass_batch
    assert sum(preview_calls) == PREVIEW_PASSES < config.self2self.passes * 2
    assert max(preview_calls) <= batch


def test_time_based_previews_are_spaced_by_their_cost() -> None:
    from napari_blind_denoise.core.preview import MIN_COST_RATIO, Previewer

    noisy, _ = make_noisy((32, 32))
    session = TrainingSession(noisy, "YX", tiny_config(steps=2), device="cpu")
    run_to_completion(session.run())
    layout = validate_axes("YX", noisy.shape)
    prev = Previewer(PreviewOptions(seconds=2.0, size=16), noisy, layout, session.norm,
                     session.config, session.method)
    assert not prev.due(1, 1.0) and prev.due(2, 2.5)
    prev(session.model, 2, 2.5)
    assert not prev.due(3, 4.4) and prev.due(4, 4.5)  # 2 s after, the preview being cheap
    prev.options = PreviewOptions(seconds=1e-9, size=16)
    prev(session.model, 4, 4.5)
    assert prev._next_time > 4.5 and prev._next_time - 4.5 < 1.0
    assert MIN_COST_RATIO >= 5


def test_crop_fits_small_images_and_the_divisor() -> None:
    assert centre_crop(validate_axes("YX", (20, 100)), 64, 8) == ((), 2, 18, 16, 64)
    assert centre_crop(validate_axes("TZYX", (3, 5, 6, 6)), 64, 8) == ((1, 2), 0, 0, 6, 6)
    with pytest.raises(ValueError, match="size"):
        PreviewOptions(size=4)
