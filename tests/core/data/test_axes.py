"""Axes strings and plane-wise window access for every layout."""

from __future__ import annotations

import numpy as np
import pytest

from napari_blind_denoise.core import InputError, Layout, guess_axes, validate_axes


@pytest.mark.parametrize(("axes", "shape", "match"), [
    ("YQ", (4, 4), "unknown letters Q"),
    ("yxw", (2, 4, 4), "unknown letters W"),
    ("YYX", (2, 4, 4), "only once"),
    ("ZYX", (4, 4), "3 letters but the image has 2 dimensions"),
    ("YX", (2, 4, 4), "2 letters but the image has 3 dimensions"),
    ("ZX", (4, 4), "must contain Y and X"),
    ("CY", (4, 4), "must contain Y and X"),
])
def test_exception_validate(axes: str, shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(InputError, match=match):
        validate_axes(axes, shape)


def test_validate_upper_cases() -> None:
    layout = validate_axes("zyx", (3, 4, 5))
    assert layout == Layout("ZYX", (3, 4, 5))


@pytest.mark.parametrize(("shape", "axes"), [
    ((8, 9), "YX"), ((3, 8, 9), "ZYX"), ((8, 9, 5), "ZYX"), ((2, 3, 8, 9), "TZYX"),
    ((2, 2, 3, 8, 9), "TCZYX"), ((2, 2, 2, 3, 8, 9), "STCZYX"),
    ((3, 3, 3), "ZYX"),  # too small to be a colour photograph
])
def test_guess(shape: tuple[int, ...], axes: str) -> None:
    assert guess_axes(shape) == axes


@pytest.mark.parametrize("shape", [(64, 64, 3), (32, 40, 4)])
def test_exception_guess_rgb(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputError, match="RGB"):
        guess_axes(shape)


@pytest.mark.parametrize("shape", [(5,), (), (2,) * 7])
def test_exception_guess_dims(shape: tuple[int, ...]) -> None:
    with pytest.raises(InputError):
        guess_axes(shape)


def test_layout_properties() -> None:
    layout = validate_axes("TCZYX", (2, 3, 4, 5, 6))
    assert layout.channels == 3
    assert (layout.height, layout.width) == (5, 6)
    assert layout.plane_shape == (2, 4)
    assert layout.n_planes == 8
    assert list(layout.planes()) == [(t, z) for t in range(2) for z in range(4)]
    yx = validate_axes("YX", (5, 6))
    assert (yx.channels, yx.n_planes, yx.plane_shape, list(yx.planes())) == (1, 1, (), [()])


LAYOUTS = [
    ("YX", (10, 12)),
    ("CYX", (2, 10, 12)),
    ("YXC", (10, 12, 3)),
    ("TZYX", (2, 3, 10, 12)),
    ("ZCYX", (3, 2, 10, 12)),
    ("TYXC", (2, 10, 12, 2)),
    ("STCZYX", (1, 2, 2, 2, 10, 12)),
]


def expected_cyx(array: np.ndarray, axes: str, plane: tuple[int, ...],
                 ys: slice, xs: slice) -> np.ndarray:
    """Independent reference: move axes to (planes..., C, Y, X), then index."""
    a = array if "C" in axes else array[..., None]
    ax = axes if "C" in axes else axes + "C"
    order = [ax.index(c) for c in ax if c in "STZ"] + [ax.index(c) for c in "CYX"]
    return np.transpose(a, order)[plane][:, ys, xs]


@pytest.mark.parametrize(("axes", "shape"), LAYOUTS)
def test_read_matches_reference(axes: str, shape: tuple[int, ...]) -> None:
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    layout = validate_axes(axes, shape)
    ys, xs = slice(2, 7), slice(3, 11)
    for plane in layout.planes():
        block = layout.read(array, plane, ys, xs)
        assert block.dtype == np.float32
        assert block.shape == (layout.channels, 5, 8)
        np.testing.assert_array_equal(block, expected_cyx(array, axes, plane, ys, xs))


@pytest.mark.parametrize(("axes", "shape"), LAYOUTS)
def test_write_read_round_trip(axes: str, shape: tuple[int, ...]) -> None:
    source = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    layout = validate_axes(axes, shape)
    out = np.zeros(shape, np.float32)
    for plane in layout.planes():  # copy in 4 windows per plane
        for ys in (slice(0, 4), slice(4, None)):
            for xs in (slice(0, 5), slice(5, None)):
                layout.write(out, plane, ys, xs, layout.read(source, plane, ys, xs))
    np.testing.assert_array_equal(out, source)


def test_to_from_cyx_inverse() -> None:
    layout = validate_axes("YXC", (4, 5, 3))
    block = np.random.default_rng(0).normal(size=(4, 5, 3))
    cyx = layout.to_cyx(block)
    assert cyx.shape == (3, 4, 5)
    np.testing.assert_array_equal(layout.from_cyx(cyx), block)
