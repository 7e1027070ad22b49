"""The noise-model outputs of an ``nnet`` run: a std map, a noise curve and a JSON summary.

``noise_std.tif``: per-pixel predicted noise std (input units, the input's shape);
``noise_curve.csv``: ``signal,std`` of channel 0 over the image's signal range (and
``noise_curve_c1.csv``... for further channels of a multi-channel image);
``noise_model.json``: kind, components and the fitted Poisson-Gaussian ``a``, ``b``
(``variance = a * signal + b``) per channel. Every file is written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic import write_text
from ..core.errors import InputError
from ..core.noise_model import (
    describe_noise_model,
    fit_poisson_gaussian,
    noise_curve,
    predict_noise_std,
)
from ..core.normalize import sample_values
from ..core.validate import check_image
from .images import write_image

STD_MAP = "noise_std.tif"
CURVE = "noise_curve.csv"
SUMMARY = "noise_model.json"
CURVE_POINTS = 64


def check_noise_dir(folder: str | os.PathLike) -> Path:
    """Refuse a ``--noise-out`` path that exists and is not a folder."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"noise output {path} exists and is not a folder")
    return path


def _channel_curve(trained, values: np.ndarray, channel: int):
    """Noise curve over ``[min, max]`` of ``values`` and the pixel count near each point."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1e-6 * max(1.0, abs(lo))
    signal, std = noise_curve(trained, CURVE_POINTS, (lo, hi), channel=channel)
    edges = np.concatenate([[-np.inf], (signal[1:] + signal[:-1]) / 2, [np.inf]])
    counts = np.histogram(values, bins=edges)[0].astype(np.float64)
    return signal, std, counts


def write_noise_outputs(trained, denoised, axes: str, folder: str | os.PathLike, *,
                        on_event: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """Write the three noise files for ``denoised`` (input units) into ``folder``.

    Parameters
    ----------
    trained
        An ``nnet`` model.
    denoised
        Its denoised output (numpy or zarr), axes ``axes``.
    folder
        Created if missing; existing files of the same names are replaced.
    on_event
        Called with every :class:`PredictEvent` of the std map.

    Returns
    -------
    dict
        The JSON summary (also written to ``noise_model.json``) plus the file paths.
    """
    folder = check_noise_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layout = check_image(denoised, axes)
    gen = predict_noise_std(trained, denoised, axes)
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            std_map = stop.value
            break
        if on_event is not None:
            on_event(ev)
    write_image(folder / STD_MAP, std_map, axes)
    values = sample_values(denoised, layout, 4_000_000, np.random.default_rng(0))
    fits, curves = [], []
    for c in range(layout.channels):
        signal, std, counts = _channel_curve(trained, values[c], c)
        a, b = fit_poisson_gaussian(signal, std, counts)
        fits.append({"channel": c, "a": a, "b": b,
                     "signal_range": [float(signal[0]), float(signal[-1])]})
        curves.append((signal, std))
        if c == 0:
            summary = describe_noise_model(trained, signal, std, counts)
    summary["channels"] = fits
    summary["files"] = {k: str(folder / v) for k, v in
                        (("std_map", STD_MAP), ("curve", CURVE), ("summary", SUMMARY))}
    for c, curve in enumerate(curves[1:], start=1):
        summary["files"][f"curve_c{c}"] = str(write_curve_csv(folder / channel_curve_name(c),
                                                              *curve))
    write_curve_files(folder, *curves[0], summary)
    return summary


def channel_curve_name(channel: int) -> str:
    """File name of a channel's noise curve: ``noise_curve.csv`` for 0, else ``_c<k>``."""
    return CURVE if channel == 0 else f"noise_curve_c{channel}.csv"


def write_curve_csv(path: str | os.PathLike, signal, std) -> Path:
    """Write one ``signal,std`` CSV atomically."""
    rows = "".join(f"{s:.9g},{d:.9g}\n" for s, d in zip(signal, std, strict=True))
    write_text(Path(path), "signal,std\n" + rows)
    return Path(path)


def write_curve_files(folder: str | os.PathLike, signal, std,
                      summary: dict[str, Any]) -> list[Path]:
    """Write ``noise_curve.csv`` (``signal,std``) and ``noise_model.json``, atomically.

    Returns
    -------
    list of Path
        The two files.
    """
    folder = check_noise_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_curve_csv(folder / CURVE, signal, std)
    write_text(folder / SUMMARY, json.dumps(summary, indent=2))
    return [folder / CURVE, folder / SUMMARY]
