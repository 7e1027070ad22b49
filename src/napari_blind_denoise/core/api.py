"""One-call convenience API for scripts and napari-workflows."""

from __future__ import annotations

import numpy as np

from .config import TileConfig
from .data.exclude import exclude_pixels
from .methods import default_config
from .predict import predict
from .train import run_to_completion, train


def denoise(
    image,
    method: str = "n2v",
    *,
    axes: str | None = None,
    preset: str = "cpu",
    device: str = "auto",
    tile: TileConfig | None = None,
    exclude=None,
    **train_options,
) -> np.ndarray:
    """Train ``method`` on ``image`` and return the denoised image (float32, input units).

    Parameters
    ----------
    image
        2-D+ array (numpy, zarr, dask). Never modified.
    method
        A registered method id (see ``napari_blind_denoise.core.METHODS``).
    axes
        Axes string, e.g. ``"YX"``, ``"ZYX"``, ``"CYX"``; guessed when ``None``.
    preset
        ``"cpu"`` or ``"gpu"``.
    exclude
        Methods that fill in unknown pixels (``s2s``): a mask of ``image``'s shape, non-zero
        where a pixel is known to be corrupted (never used, filled in by the result).
    train_options
        :class:`TrainConfig` overrides such as ``steps=500`` or ``time_budget=60``.
    """
    config = default_config(method, preset, **train_options)
    image = exclude_pixels(image, exclude)
    trained = run_to_completion(train(image, axes, config, device=device))
    return run_to_completion(predict(trained, image, axes, tile=tile, device=device))
