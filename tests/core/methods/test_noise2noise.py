"""Noise2Noise (``n2n``): trained on pairs of independent noisy acquisitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_blind_denoise.core import (
    InputError,
    TrainingSession,
    neighbour_frames,
    predict,
    psnr,
    run_to_completion,
    train,
)
from napari_blind_denoise.core.methods.noise2noise import swap_pairs
from napari_blind_denoise.core.pipeline import run_pipeline

from ...conftest import make_blobs, tiny_config


def _spots(shape, seed: int, n: int = 80) -> np.ndarray:
    """A smooth image of small Gaussian spots (1-2.5 px): detail a blind spot cannot see."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    img = np.full(shape, 0.1, np.float32)
    for _ in range(n):
        cy, cx, s = rng.uniform(0, shape[0]), rng.uniform(0, shape[1]), rng.uniform(1.0, 2.5)
        img += rng.uniform(0.5, 1.0) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return img


def _pair(shape=(64, 64), sigma=0.15, seed=0):
    """A clean image and two independent Gaussian noise realisations of it (fixed seeds)."""
    clean = _spots(shape, seed)
    a, b = ((clean + np.random.default_rng(100 + k).normal(0, sigma, shape)).astype(np.float32)
            for k in (1, 2))
    return clean, a, b


def test_swap_pairs_flips_input_and_target_per_window() -> None:
    a = torch.zeros(64, 1, 4, 4)
    b = torch.ones(64, 1, 4, 4)
    batch = swap_pairs([a, b], torch.Generator().manual_seed(0))
    flipped = batch.input[:, 0, 0, 0] == 1
    assert 10 < int(flipped.sum()) < 54  # a coin flip per window
    assert torch.equal(batch.target, 1 - batch.input)  # the target is always the other one
    assert bool((batch.mask == 1).all())  # no blind spot: every pixel scored


def test_n2n_beats_n2s_at_equal_steps() -> None:
    clean, a, b = _pair()
    kw = {"steps": 60, "batch_size": 8, "val_every": 30}
    n2n = run_to_completion(train((a, b), "YX", tiny_config("n2n", **kw)))
    n2s = run_to_completion(train(a, "YX", tiny_config("n2s", **kw)))
    p_n2n = psnr(run_to_completion(predict(n2n, a, "YX")), clean)
    p_n2s = psnr(run_to_completion(predict(n2s, a, "YX")), clean)
    p_in = psnr(a, clean)
    assert p_n2n > p_in + 3.0
    assert p_n2n > p_n2s + 2.0, (p_in, p_n2s, p_n2n)


def test_n2n_needs_a_pair_of_one_shape() -> None:
    _, a, b = _pair()
    with pytest.raises(InputError, match="trains on 2 noisy array"):
        TrainingSession(a, "YX", tiny_config("n2n"))
    with pytest.raises(InputError, match="differ in shape"):
        TrainingSession((a, b[:48]), "YX", tiny_config("n2n"))
    with pytest.raises(InputError, match="trains on 1 noisy array"):
        TrainingSession((a, b), "YX", tiny_config("n2s"))


def test_neighbour_frames_are_lazy_shifted_views() -> None:
    stack = np.arange(4 * 3 * 5, dtype=np.float32).reshape(4, 3, 5)
    early, late = neighbour_frames(stack, "TYX", "T")
    assert early.shape == late.shape == (3, 3, 5)
    np.testing.assert_array_equal(np.asarray(early), stack[:3])
    np.testing.assert_array_equal(np.asarray(late), stack[1:])
    np.testing.assert_array_equal(late[2, 1:, ::2], stack[3, 1:, ::2])
    np.testing.assert_array_equal(late[-1], stack[3])
    np.testing.assert_array_equal(late[::-1], stack[1:][::-1])
    with pytest.raises(IndexError):
        late[3]
    czyx = np.zeros((2, 6, 8, 8), np.float32)
    early, late = neighbour_frames(czyx, "CZYX", "z")
    assert late.shape == (2, 5, 8, 8)


def test_neighbour_frames_refusals() -> None:
    with pytest.raises(InputError, match="no T axis"):
        neighbour_frames(np.zeros((5, 8, 8)), "ZYX", "T")
    with pytest.raises(InputError, match="at least 2 frames"):
        neighbour_frames(np.zeros((1, 8, 8)), "TYX", "T")
    with pytest.raises(InputError, match="not 'Y'"):
        neighbour_frames(np.zeros((3, 8, 8)), "TYX", "Y")


def test_time_lapse_trains_on_neighbouring_frames_and_denoises_every_frame() -> None:
    clean = (0.1 + make_blobs((64, 64), seed=3)).astype(np.float32)
    rng = np.random.default_rng(7)
    movie = (clean + rng.normal(0, 0.1, (4, 64, 64))).astype(np.float32)  # a still scene
    session = TrainingSession(neighbour_frames(movie, "TYX"), "TYX",
                              tiny_config("n2n", steps=60, batch_size=8))
    assert session.layout.shape == (3, 64, 64)
    result = run_to_completion(run_pipeline(session, data=movie))
    out = result.images["denoised"]
    assert out.shape == movie.shape
    assert psnr(out[3], clean) > psnr(movie[3], clean) + 3.0
