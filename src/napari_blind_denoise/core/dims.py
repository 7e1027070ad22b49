"""2-D or 3-D: which network a training run builds for its data (``ModelConfig.dims``).

``"auto"`` trains a 3-D network on ZYX data with at least :data:`AUTO_MIN_DEPTH` Z planes
when the method has one (``Method.spatial_dims``), a 2-D one (planes denoised one by one)
otherwise. A 3-D network's first pooling levels pool only Y and X while the voxel is longer
in Z than in Y/X (:func:`yx_levels_for`), and its training windows are ``patch_depth``
planes deep with fewer windows per step (:func:`volume_batch`), with batch normalisation
(:data:`VOLUME_BATCH_NORM`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .config import DenoiseConfig
from .data.axes import Layout
from .data.volume import fit_patch_depth
from .errors import InputError

if TYPE_CHECKING:
    from .methods import Method

# The presets' choice (CLI and widget default): plane by plane. At equal steps on the CPU the
# 3-D network was behind the 2-D one in 5 of 6 measurements (n2v on the synthetic blob
# volume: -4.2 dB at 150 steps, -2.1 dB at 600; +0.2 dB on the nuclei volume at 600;
# docs/results/2026-12-02-volume.txt, 2026-12-02-volume-600.txt) and it learns slowly
# (tests/core/test_volume3d.py), so "auto" and 3 are opt-in until a measurement favours them.
DEFAULT_DIMS: int | str = 2
# The fewest Z planes "auto" trains a 3-D network on. A 3-D window needs depth to hold a
# neighbourhood on both sides of most of its voxels and to pool in Z (the CPU preset's
# depth-2 network halves Z twice); 16 planes give one full default window
# (TrainConfig.patch_depth) and a choice of Z origins, so training does not see the same
# planes in every window; shallower stacks carry too little Z context to pay for the
# 3-D network's cost per voxel (docs/methods.md).
AUTO_MIN_DEPTH = 16
# Voxels per 3-D training step, as a multiple of the 2-D step's pixels: a 3-D window of
# depth D holds D times the pixels of a 2-D one, so the batch is divided by D / VOXEL_FACTOR.
VOXEL_FACTOR = 2
ANISOTROPY = 2.0  # Z spacing / Y-X spacing from which the first levels pool only Y and X
# 3-D networks train with batch normalisation: without it the 3-D UNet learned far more
# slowly than the 2-D one at equal steps (docs/results/2026-12-02-volume.txt, "3-D, no BN").
# That slowness comes from PyTorch's default initialisation (He init learns without it), and
# batch norm over 2 windows per step is unreliable across seeds (11.47 dB instead of 31.23 dB
# with seed 1; docs/results/2026-12-02-volume-learning.txt, docs/methods.md, issue 14).
VOLUME_BATCH_NORM = True


def yx_levels_for(spacing: Mapping[str, float] | None, depth: int) -> int:
    """Pooling levels that pool only Y and X: ``round(log2(z / yx))`` when the Z spacing is
    at least :data:`ANISOTROPY` times the Y/X spacing (then the voxel is about isotropic
    below them), at most ``depth``; 0 otherwise or without a spacing."""
    if not spacing or "Z" not in spacing:
        return 0
    yx = [float(spacing[a]) for a in "YX" if a in spacing and float(spacing[a]) > 0]
    z = float(spacing["Z"])
    if not yx or not z > 0:
        return 0
    ratio = z / (sum(yx) / len(yx))
    if ratio < ANISOTROPY:
        return 0
    return min(depth, round(math.log2(ratio)))


def volume_batch(batch_size: int, depth: int) -> int:
    """Windows per 3-D step: ``batch_size * VOXEL_FACTOR / depth``, at least 2."""
    return max(2, batch_size * VOXEL_FACTOR // max(depth, 1))


def _wants_3d(config: DenoiseConfig, layout: Layout, method: Method) -> bool:
    """Whether ``config.model.dims`` asks for (``3``) or chooses (``"auto"``) a 3-D
    network on this data; refuses ``3`` where it cannot apply."""
    dims = config.model.dims
    if dims == 2:
        return False
    depth = layout.shape[layout.axes.index("Z")] if "Z" in layout.axes else 0
    stride = config.mask.downsample
    if dims == "auto":
        return (3 in method.spatial_dims and depth >= AUTO_MIN_DEPTH
                and stride in (1, "auto"))
    if 3 not in method.spatial_dims:
        with_3d = ", ".join(m.id for m in _registered() if 3 in m.spatial_dims)
        raise ValueError(f"method {method.id!r} has no 3-D network; 3-D training applies to "
                         f"{with_3d} (use dims 2 or auto)")
    if not depth:
        raise InputError(f"a 3-D network needs data with a Z axis; the image's axes are "
                         f"{layout.axes!r} (use dims 2 or auto)")
    if stride not in (1, "auto"):
        raise ValueError(f"pixel-shuffle downsampling (downsample={stride}) applies to 2-D "
                         "networks; use downsample 1 with dims 3")
    return True


def resolve_dims(config: DenoiseConfig, layout: Layout, method: Method,
                 spacing: Mapping[str, float] | None = None
                 ) -> tuple[DenoiseConfig, dict[str, Any]]:
    """``config`` with ``model.dims`` resolved to 2 or 3 for this data and, for 3, the
    pooling (``yx_levels`` from ``spacing``, axis letter -> voxel size, when not set), the
    window depth and the windows per step; and what to record (``info["notice"]``: a line
    for the user).

    Raises
    ------
    ValueError, InputError
        ``dims=3`` for a method without a 3-D network, data without Z, or a pixel-shuffle
        stride.
    """
    if not _wants_3d(config, layout, method):
        if config.model.dims == 2:
            return config, {}
        return replace(config, model=replace(config.model, dims=2)), {"dims": 2}
    model = config.model
    levels = model.yx_levels if model.yx_levels is not None else \
        yx_levels_for(spacing, model.depth)
    model = replace(model, dims=3, yx_levels=levels,
                    batch_norm=model.batch_norm or VOLUME_BATCH_NORM)
    depth = fit_patch_depth(layout.shape[layout.axes.index("Z")], config.train.patch_depth,
                            model.z_divisor)
    train = replace(config.train, patch_depth=depth,
                    batch_size=volume_batch(config.train.batch_size, depth),
                    val_patches=volume_batch(config.train.val_patches, depth))
    mask = config.mask if config.mask.downsample == 1 else replace(config.mask, downsample=1)
    config = replace(config, model=model, train=train, mask=mask)
    size = config.train.patch_size
    pooled = f"; the first {levels} pooling level(s) only in Y and X" if levels else ""
    return config, {"dims": 3, "yx_levels": levels, "notice": (
        f"3-D network: training on {depth}x{size}x{size} windows, "
        f"{train.batch_size} per step{pooled}")}


def _registered() -> list[Method]:
    from .methods import METHODS

    return list(METHODS.values())
