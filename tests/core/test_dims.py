"""``ModelConfig.dims``: auto picks a 3-D network for deep ZYX stacks where the method has
one; 3 is refused where it cannot apply; anisotropic voxels pool first in Y and X."""

from __future__ import annotations

from dataclasses import replace

import pytest

from napari_blind_denoise.core import AUTO_MIN_DEPTH, InputError, validate_axes
from napari_blind_denoise.core.dims import DEFAULT_DIMS, resolve_dims, yx_levels_for
from napari_blind_denoise.core.methods import default_config, get_method


def resolve(method: str, axes: str, shape, dims="auto", spacing=None, **mask):
    cfg = default_config(method)
    cfg = replace(cfg, model=replace(cfg.model, dims=dims), mask=replace(cfg.mask, **mask))
    return resolve_dims(cfg, validate_axes(axes, shape), get_method(method), spacing)


def test_presets_are_plane_by_plane_unless_asked() -> None:
    assert default_config("n2v").model.dims == DEFAULT_DIMS == 2
    assert default_config("n2s", "gpu").model.dims == 2


@pytest.mark.parametrize("method", ["n2v", "n2s"])
def test_auto_is_3d_for_deep_stacks(method: str) -> None:
    cfg, info = resolve(method, "ZYX", (AUTO_MIN_DEPTH, 64, 64))
    assert cfg.model.dims == 3 and info["dims"] == 3 and "3-D network" in info["notice"]
    assert cfg.train.patch_depth == 16 and cfg.train.batch_size < 16


@pytest.mark.parametrize(("axes", "shape"), [("ZYX", (AUTO_MIN_DEPTH - 1, 64, 64)),
                                             ("YX", (64, 64)), ("TYX", (40, 64, 64))])
def test_auto_is_2d_otherwise(axes: str, shape) -> None:
    cfg, _ = resolve("n2v", axes, shape)
    assert cfg.model.dims == 2 and cfg.train == default_config("n2v").train


def test_auto_is_2d_for_methods_without_a_3d_network() -> None:
    cfg, _ = resolve("s2s", "ZYX", (32, 64, 64))
    assert cfg.model.dims == 2


def test_auto_is_2d_with_a_pixel_shuffle_stride() -> None:
    cfg, _ = resolve("n2v", "ZYX", (32, 64, 64), downsample=3, blind_spot="pixel")
    assert cfg.model.dims == 2 and cfg.mask.downsample == 3


def test_3d_volumes_of_time_lapses() -> None:
    cfg, _ = resolve("n2s", "TZYX", (2, 8, 64, 64), dims=3)
    assert cfg.model.dims == 3 and cfg.train.patch_depth == 8  # fits the 8 planes


def test_explicit_2d_is_kept() -> None:
    cfg, info = resolve("n2v", "ZYX", (64, 64, 64), dims=2)
    assert cfg.model.dims == 2 and info == {}


def test_exception_3d_without_z() -> None:
    with pytest.raises(InputError, match="Z axis"):
        resolve("n2v", "TYX", (20, 64, 64), dims=3)


def test_exception_3d_for_a_2d_method() -> None:
    with pytest.raises(ValueError, match=r"no 3-D network.*n2v, n2s"):
        resolve("s2s", "ZYX", (20, 64, 64), dims=3)


def test_exception_3d_with_pixel_shuffle() -> None:
    with pytest.raises(ValueError, match="pixel-shuffle"):
        resolve("n2v", "ZYX", (20, 64, 64), dims=3, downsample=2, blind_spot="pixel")


@pytest.mark.parametrize(("spacing", "levels"), [
    (None, 0), ({"Z": 1.0, "Y": 1.0, "X": 1.0}, 0), ({"Z": 1.9, "Y": 1.0, "X": 1.0}, 0),
    ({"Z": 2.0, "Y": 1.0, "X": 1.0}, 1), ({"Z": 5.0, "Y": 1.25, "X": 1.25}, 2),
    ({"Z": 100.0, "Y": 1.0, "X": 1.0}, 2), ({"Y": 1.0, "X": 1.0}, 0)])
def test_yx_levels_from_the_spacing(spacing, levels: int) -> None:
    assert yx_levels_for(spacing, depth=2) == levels


def test_anisotropic_spacing_shapes_the_network() -> None:
    cfg, info = resolve("n2v", "ZYX", (32, 64, 64), spacing={"Z": 2.0, "Y": 0.5, "X": 0.5})
    assert cfg.model.yx_levels == 2 and cfg.model.z_divisor == 1
    assert "only in Y and X" in info["notice"]
