"""A live look at the model while it trains: the method's preview inference of one small
crop (:meth:`~napari_blind_denoise.core.methods.Method.preview_inferrer`, for ``s2s`` a
few-pass ensemble), every so often, handed out in the step's
:class:`~napari_blind_denoise.core.events.TrainEvent` as a
:class:`~napari_blind_denoise.core.events.Preview`.

The crop is computed in the training loop's thread (a widget's worker), from the training
data, and changes nothing in training: the network is evaluated without gradients and the
method's preview draws its own random numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .data.volume import Volumes, fit_patch_depth
from .device import autocast
from .events import Preview
from .trained import TrainedModel

if TYPE_CHECKING:
    from .config import DenoiseConfig
    from .data.axes import Layout
    from .data.normalize import NormStats
    from .methods import Method

# time-based previews are at least this many times their own cost apart, so they take at
# most about a tenth of the training time however slow the device is
MIN_COST_RATIO = 10.0


@dataclass(frozen=True)
class PreviewOptions:
    """When to show a live preview during training, and how big.

    Parameters
    ----------
    every
        Every this many steps (0: not by steps). Deterministic: for tests and scripts.
    seconds
        Every this many seconds of training (0: not by time), but never more often than
        ``MIN_COST_RATIO`` times the preview's own cost.
    size
        Edge of the square crop (at most the image's; rounded down to the network's
        divisor), cut at the centre of the image's middle plane.
    """

    every: int = 0
    seconds: float = 0.0
    size: int = 128

    def __post_init__(self) -> None:
        if self.every < 0 or self.seconds < 0:
            raise ValueError("preview intervals must be >= 0")
        if self.size < 8:
            raise ValueError("preview size must be >= 8")


def centre_crop(layout: Layout, size: int, divisor: int) -> tuple[tuple[int, ...], int, int,
                                                                     int, int]:
    """``(plane, top, left, height, width)`` of a crop of edge up to ``size`` (a multiple of
    ``divisor`` where the image allows) at the centre of the middle plane."""
    def edge(limit: int) -> int:
        n = min(size, limit)
        return max(n - n % divisor, min(divisor, limit))

    h, w = edge(layout.height), edge(layout.width)
    plane = tuple(n // 2 for n in layout.plane_shape)
    return plane, (layout.height - h) // 2, (layout.width - w) // 2, h, w


class Previewer:
    """Decides when a preview is due and computes it from the current network."""

    def __init__(self, options: PreviewOptions, data, layout: Layout, norm: NormStats,
                 config: DenoiseConfig, method: Method) -> None:
        self.options = options
        self.method = method
        self.config, self.norm, self.axes = config, norm, layout.axes
        self.plane, self.top, self.left, h, w = centre_crop(layout, options.size,
                                                            config.model.divisor)
        rows, cols = slice(self.top, self.top + h), slice(self.left, self.left + w)
        self.z = None  # a 3-D network sees a slab of planes around the middle one
        if config.model.dims == 3:
            vols, zi = Volumes(layout), layout.plane_dims.index(layout.axes.index("Z"))
            depth = fit_patch_depth(vols.depth, config.train.patch_depth,
                                    config.model.z_divisor)
            z0 = min(max(0, self.plane[zi] - depth // 2), vols.depth - depth)
            self.z = self.plane[zi] - z0
            volume = tuple(p for i, p in enumerate(self.plane) if i != zi)
            raw = vols.read(data, volume, slice(z0, z0 + depth), rows, cols)
        else:
            raw = layout.read(data, self.plane, rows, cols)
        self.crop = torch.from_numpy(norm.normalize(raw))[None]  # 1CYX (1CZYX), normalised
        self._next_time = options.seconds

    def due(self, step: int, elapsed: float) -> bool:
        """A preview is due at this step (by steps or by the clock)."""
        every = self.options.every
        by_steps = every > 0 and step % every == 0
        by_time = self.options.seconds > 0 and elapsed >= self._next_time
        return by_steps or by_time

    def __call__(self, model: torch.nn.Module, step: int, elapsed: float) -> Preview:
        """The method's preview inference of the crop with ``model`` as it is now."""
        t0 = time.perf_counter()
        trained = TrainedModel(model, self.config, self.norm, self.axes)
        infer = self.method.preview_inferrer(trained)
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        try:
            with torch.inference_mode(), autocast(device):
                y = infer(model, self.crop.to(device)).float()
        finally:
            model.train(was_training)
        y = y[0] if self.z is None else y[0, :, self.z]
        image = self.norm.denormalize(y.cpu().numpy())
        image.setflags(write=False)
        cost = time.perf_counter() - t0
        self._next_time = elapsed + max(self.options.seconds, MIN_COST_RATIO * cost)
        return Preview(image, self.plane, self.top, self.left, step)
