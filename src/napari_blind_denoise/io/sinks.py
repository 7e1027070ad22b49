"""Where the pipeline's image outputs go: named files (CLI) or fresh zarr stores (widgets).

Both write under a temporary name and rename into place on ``commit`` (``io.images``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .images import OutputArray, open_output


def safe_name(name: str) -> str:
    """A file-system friendly version of a layer name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "layer"


def unique_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem+suffix``, or ``stem-2``, ``stem-3``... if taken."""
    path = folder / f"{stem}{suffix}"
    k = 2
    while path.exists():
        path = folder / f"{stem}-{k}{suffix}"
        k += 1
    return path


class PathSink:
    """Each output to the path the caller named for it (``.tif``/``.tiff``, ``.zarr`` or
    ``.ome.zarr``).

    ``paths`` maps an output name (``denoised``, ``noise_std``...) to its path; ``folders``
    maps further names to a folder, where they become ``<name>.tif``. ``chosen``: the
    program chose the ``paths`` too (e.g. one output per input in a folder), so an existing
    file there is replaced only if this program wrote it (or with ``overwrite``).
    ``spacing``: the input's pixel size per axis letter (``io.images.input_spacing``), kept
    by ``.ome.zarr`` outputs. ``whole_below``: a TIFF output larger than this many bytes is
    filled in a temporary zarr store and streamed into the file on commit (``None``: always
    held whole).
    """

    def __init__(self, paths: dict[str, str | os.PathLike],
                 folders: dict[str, str | os.PathLike] | None = None, *,
                 overwrite: bool = False, chosen: bool = False,
                 spacing: dict[str, tuple[float, str | None]] | None = None,
                 whole_below: int | None = None) -> None:
        self.paths = {k: Path(v) for k, v in paths.items()}
        self.folders = {k: Path(v) for k, v in (folders or {}).items()}
        self.overwrite = overwrite
        self.chosen = chosen
        self.spacing = dict(spacing or {})
        self.whole_below = whole_below

    def path(self, name: str) -> Path:
        """The file an output goes to."""
        if name in self.paths:
            return self.paths[name]
        return self.folders[name] / f"{name}.tif"

    def open(self, name: str, shape: tuple[int, ...], axes: str,
             attrs: dict[str, Any]) -> OutputArray:
        """The output ``name``, written on ``commit`` (a file in a folder replaces only a file
        this program wrote there, or any file with ``overwrite``)."""
        return open_output(self.path(name), shape, axes, attrs=attrs,
                           implicit=name not in self.paths, overwrite=self.overwrite,
                           spacing=self.spacing, whole_below=self.whole_below)


@dataclass(frozen=True, slots=True)
class StoreState:
    """Where an output of a :class:`StoreSink` can be read now.

    Attributes
    ----------
    name
        The output's name (``denoised``, an extra output's).
    path
        While ``writing``: the temporary store being filled (regions not written yet read
        as NaN); then the final store once committed, ``None`` once removed (stopped or
        failed).
    writing
        True until the output is committed or removed.
    """

    name: str
    path: Path | None
    writing: bool


class StoreSink:
    """Every output as a new zarr store in ``folder``: ``<stem>.zarr`` for the denoised
    image, ``<stem>_<name>.zarr`` for the others, never replacing an existing store.

    :meth:`states` tells where each output opened so far can be read, so a viewer can show
    it (read-only) while it fills. Regions not written yet read as NaN, the stores' fill
    value; the pipeline writes every pixel before it commits an output.
    """

    def __init__(self, folder: str | os.PathLike, stem: str) -> None:
        self.folder = Path(folder)
        self.stem = safe_name(stem)
        self._opened: dict[str, OutputArray] = {}

    def open(self, name: str, shape: tuple[int, ...], axes: str,
             attrs: dict[str, Any]) -> OutputArray:
        """A fresh store for ``name``."""
        stem = self.stem if name == "denoised" else f"{self.stem}_{name}"
        handle = open_output(unique_path(self.folder, stem, ".zarr"), shape, axes,
                             attrs=attrs, fill_value=float("nan"))
        self._opened[name] = handle
        return handle

    def states(self) -> dict[str, StoreState]:
        """Each output opened so far, by name: being written (its temporary store),
        committed (its final store) or removed."""
        out = {}
        for name, h in self._opened.items():
            if h.tmp is not None:
                out[name] = StoreState(name, h.tmp, True)
            else:  # a fresh name (unique_path): it exists only once committed
                out[name] = StoreState(name, h.path if h.path.exists() else None, False)
        return out
