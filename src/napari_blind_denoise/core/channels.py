"""Channels: one model over all of an image's channels, or one model per channel
(``ModelConfig.channels``).

``"joint"``: the ``C`` axis is the network's input and output channels, one model for the
image. ``"separate"``: each channel is trained as a one-channel image of its own
(:func:`channel_of`: the image with its ``C`` axis dropped, never copied) and predicted by its
own model into its channel of the outputs (``core.separate`` runs the one-channel path per
channel). The training budget is the run's, whichever the mode: with ``separate`` each
channel's model gets ``ceil(steps / C)`` steps and the models share the wall-clock budget
(:func:`channel_config`), so both modes cost about the same.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from .config import ChannelMode, DenoiseConfig
from .data.axes import Layout

# The presets' choice (CLI and widget default): one model per channel. Multi-channel data must
# never denoise worse than each channel alone would, and at the same total steps one model
# over the channels did worse on a channel with each of n2v, n2s and nnet (HeLa cells, the
# tuning half, Poisson-Gaussian noise: channel 1 by 0.20, 0.45 and 0.09 dB), while it did
# better on others (up to 0.54 dB): no rule choosing between them could be told from one
# image (benchmarks/channels.py, docs/results/2026-12-03-channels-tuning.jsonl; the report
# half, docs/results/2026-12-03-channels-report.jsonl, in docs/methods.md "Channels").
DEFAULT_CHANNELS: ChannelMode = "separate"


def separate(config: DenoiseConfig, layout: Layout) -> bool:
    """True when ``config`` trains one model per channel of this image (``separate`` and
    more than one channel)."""
    return config.model.channels == "separate" and layout.channels > 1


def channel_axes(axes: str) -> str:
    """The axes of one channel: ``axes`` without ``C``."""
    return axes.replace("C", "")


def channel_config(config: DenoiseConfig, channels: int) -> DenoiseConfig:
    """The configuration of one of ``channels`` models of a ``separate`` run: a
    ``1/channels`` share of the step budget (rounded up). The wall-clock budget stays whole:
    the models are trained in turn, each measuring the run's time."""
    steps = math.ceil(config.train.steps / channels)
    return replace(config, train=replace(config.train, steps=steps))


def channel_of(array, layout: Layout, c: int):
    """Channel ``c`` of ``array`` (axes ``layout.axes``): the array without its ``C`` axis.

    A numpy array gives a numpy view; anything else (zarr, dask, the lazy arrays of
    ``core.data``, an output being written) a :class:`ChannelView`, read and written window
    by window. ``array`` itself when it has no ``C`` axis.
    """
    if "C" not in layout.axes:
        return array
    dim = layout.axes.index("C")
    if isinstance(array, np.ndarray):
        return array[(slice(None),) * dim + (c,)]
    return ChannelView(array, dim, c)


class ChannelView:
    """Entry ``index`` of ``data`` along ``dim``: ``data`` without that axis.

    Supports what the pipeline reads and writes: ``shape``, ``dtype``, ``ndim``, ``chunks``
    (when ``data`` has them), numpy-style indexing with integers, slices and ``...``, item
    assignment, and ``np.asarray``. Nothing is copied: every access goes to ``data``.
    """

    def __init__(self, data, dim: int, index: int) -> None:
        self.data, self.dim, self.index = data, dim, index
        shape = tuple(data.shape)
        self.shape = shape[:dim] + shape[dim + 1:]
        self.dtype = np.dtype(data.dtype)
        self.ndim = len(self.shape)
        chunks = getattr(data, "chunks", None)
        if isinstance(chunks, tuple) and len(chunks) == len(shape):
            self.chunks = chunks[:dim] + chunks[dim + 1:]

    def _key(self, key) -> tuple:
        """``key`` on this view as a key on ``data``."""
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(i for i, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (self.ndim - len(key) + 1) + key[at + 1:]
        key = key + (slice(None),) * (self.ndim - len(key))
        return (*key[:self.dim], self.index, *key[self.dim:])

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.data[self._key(key)])

    def __setitem__(self, key, value) -> None:
        self.data[self._key(key)] = value

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        block = self[...]
        return block if dtype is None else block.astype(dtype)

    def __len__(self) -> int:
        return self.shape[0]


def merge_tables(tables: list[dict]) -> dict:
    """One channel's tables (an extra output of kind ``table``, one per channel's model) as
    one image's: the first channel's entries at the top, as a joint model's table has them,
    and every list of per-channel entries (dicts with a ``channel`` key) joined, each entry
    numbered with its channel in the image."""
    merged = dict(tables[0])
    for key, value in tables[0].items():
        if isinstance(value, list) and value and all(
                isinstance(v, dict) and "channel" in v for v in value):
            merged[key] = [{**entry, "channel": c} for c, table in enumerate(tables)
                           for entry in table[key]]
    return merged
