"""Percentile normalisation: round trip, clipping, refusal of NaN and constant images."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import InputError, NormStats, compute_norm_stats, validate_axes


def stats_of(array: np.ndarray, axes: str, **kw) -> NormStats:
    return compute_norm_stats(array, validate_axes(axes, array.shape), **kw)


def test_round_trip(rng: np.random.Generator) -> None:
    stats = NormStats(low=(10.0, -5.0), high=(110.0, 5.0))
    x = rng.uniform(-50, 200, (2, 8, 9)).astype(np.float32)
    n = stats.normalize(x)
    assert n.dtype == np.float32
    np.testing.assert_allclose(stats.denormalize(n), x, rtol=1e-5, atol=1e-4)


def test_normalize_per_channel() -> None:
    stats = NormStats(low=(10.0, -5.0), high=(110.0, 5.0))
    x = np.stack([np.full((3, 3), 60.0), np.full((3, 3), 5.0)]).astype(np.float32)
    n = stats.normalize(x)
    np.testing.assert_allclose(n[0], 0.5)
    np.testing.assert_allclose(n[1], 1.0)


@pytest.mark.parametrize(("dtype", "lo", "hi"), [("uint8", 0, 255), ("uint16", 0, 65535),
                                                 ("int16", -32768, 32767)])
def test_denormalize_clips_to_integer_range(dtype: str, lo: int, hi: int) -> None:
    stats = NormStats(low=(0.0,), high=(float(hi),), dtype=dtype)
    block = np.array([[[-3.0, 0.5, 2.0]]], np.float32)
    out = stats.denormalize(block)
    assert out.dtype == np.float32
    assert out.min() >= lo and out.max() <= hi
    assert out[0, 0, 2] == hi
    assert out[0, 0, 1] == pytest.approx(0.5 * hi)
    assert out[0, 0, 0] == max(lo, -3.0 * hi)


def test_denormalize_float_not_clipped() -> None:
    stats = NormStats(low=(0.0,), high=(1.0,), dtype="float32")
    out = stats.denormalize(np.array([[[-3.0, 7.0]]], np.float32))
    np.testing.assert_array_equal(out, [[[-3.0, 7.0]]])


def test_dict_round_trip() -> None:
    stats = NormStats(low=(1.5,), high=(9.0,), dtype="uint16")
    assert NormStats.from_dict(stats.to_dict()) == stats


def test_compute_percentiles(rng: np.random.Generator) -> None:
    x = rng.normal(100, 10, (2, 40, 50)).astype(np.float32)
    x[1] *= 3
    s = stats_of(x, "CYX")
    for c in range(2):
        assert s.low[c] == pytest.approx(np.percentile(x[c], 0.5), rel=1e-5)
        assert s.high[c] == pytest.approx(np.percentile(x[c], 99.5), rel=1e-5)
    assert s.dtype == "float32"


def test_compute_keeps_integer_dtype(rng: np.random.Generator) -> None:
    x = rng.integers(0, 4000, (32, 32)).astype(np.uint16)
    assert stats_of(x, "YX").dtype == "uint16"


def test_compute_sparse_image_falls_back_to_min_max() -> None:
    """Percentiles equal (99% zeros) but the image is not constant: use min/max."""
    x = np.zeros((100, 100), np.float32)
    x[:3, :3] = 5.0
    s = stats_of(x, "YX")
    assert (s.low, s.high) == ((0.0,), (5.0,))


def test_compute_windowed_sampling_is_deterministic(rng: np.random.Generator) -> None:
    x = rng.normal(0, 1, (300, 300)).astype(np.float32)
    a = stats_of(x, "YX", max_values=20_000, rng=np.random.default_rng(3))
    b = stats_of(x, "YX", max_values=20_000, rng=np.random.default_rng(3))
    assert a == b
    assert a.low[0] == pytest.approx(np.percentile(x, 0.5), abs=0.3)
    assert a.high[0] == pytest.approx(np.percentile(x, 99.5), abs=0.3)


@pytest.mark.parametrize("value", [0.0, 7.0])
def test_exception_constant(value: float) -> None:
    with pytest.raises(InputError, match="constant"):
        stats_of(np.full((16, 16), value, np.float32), "YX")


def test_exception_one_constant_channel(rng: np.random.Generator) -> None:
    x = rng.normal(size=(3, 16, 16)).astype(np.float32)
    x[2] = 4.0
    with pytest.raises(InputError, match="channel 2"):
        stats_of(x, "CYX")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_exception_not_finite(bad: float, rng: np.random.Generator) -> None:
    x = rng.normal(size=(16, 16)).astype(np.float32)
    x[3, 4] = bad
    with pytest.raises(InputError, match="NaN or infinite"):
        stats_of(x, "YX")
