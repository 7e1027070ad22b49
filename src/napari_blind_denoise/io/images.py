"""Image files in and out.

Inputs: TIFF (axes from metadata when present), zarr (read lazily), PNG/JPEG, ``.npy``
(memory-mapped). Outputs go to a temporary sibling name and are renamed into place only
when complete, so an interrupted run never leaves a file that looks finished.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import remove_path, replace_path, tmp_sibling
from ..core.errors import InputError

TIFF_SUFFIXES = (".tif", ".tiff")
PLAIN_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
OUTPUT_SUFFIXES = (*TIFF_SUFFIXES, ".zarr")
ATTR_KEY = "napari_blind_denoise"


def is_zarr_path(path: str | os.PathLike) -> bool:
    """True for ``*.zarr`` paths (zarr stores are folders)."""
    return Path(path).suffix.lower() == ".zarr"


def _tiff_axes(tf) -> str | None:
    series = tf.series[0]
    rgb = getattr(series, "keyframe", None) is not None and series.keyframe.photometric == 2
    if rgb and series.axes.endswith("S") and series.shape[-1] in (3, 4):
        raise InputError("this TIFF is an RGB colour image; fluorescence channels must be "
                             "stored as separate planes (or pass --axes YXC)")
    axes = series.axes.replace("S", "C")
    ok = len(set(axes)) == len(axes) and set(axes) <= set("TCZYX")
    return axes if ok and "Y" in axes and "X" in axes else None


def read_image(path: str | os.PathLike) -> tuple[object, str | None]:
    """Open an image; returns ``(array, axes or None)``.

    Raises
    ------
    InputError
        Missing file, unknown suffix or a file the reader cannot parse.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"input {p} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(p) as tf:
                axes = _tiff_axes(tf)
                data = tf.asarray()
            return data, axes
        if suffix == ".zarr":
            import zarr

            arr = zarr.open_array(store=str(p), mode="r")
            axes = arr.attrs.get("axes")
            return arr, axes if isinstance(axes, str) else None
        if suffix == ".npy":
            return np.load(p, mmap_mode="r", allow_pickle=False), None
        if suffix in PLAIN_SUFFIXES:
            import imageio.v3 as iio

            return np.asarray(iio.imread(p)), None
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is an unreadable file
        raise InputError(f"cannot read {p}: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    raise InputError(f"unsupported input format {suffix or '(no suffix)'} for {p}; "
                     "use TIFF, zarr, PNG or .npy")


def check_output_path(output: str | os.PathLike, inputs: list[str | os.PathLike]) -> Path:
    """Refuse unknown output suffixes and outputs that would overwrite an input."""
    out = Path(output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"output {out} must end in .tif, .tiff or .zarr")
    for i in inputs:
        if Path(i).resolve() == out.resolve():
            raise InputError(f"output {out} is the same file as the input; choose another name")
    return out


@dataclass
class OutputArray:
    """An output being written: ``array`` to fill, then :meth:`commit` or :meth:`abort`."""

    array: object
    path: Path
    tmp: Path | None
    axes: str

    def commit(self) -> Path:
        """Move the finished output into place (atomic rename)."""
        if is_zarr_path(self.path):
            replace_path(self.tmp, self.path)
        else:
            write_image(self.path, np.asarray(self.array), self.axes)
        self.tmp = None
        return self.path

    def abort(self) -> None:
        """Remove the temporary output."""
        if self.tmp is not None:
            remove_path(self.tmp)
        self.tmp = None


def open_output(path: str | os.PathLike, shape: tuple[int, ...], axes: str,
                chunks: tuple[int, ...] | None = None, attrs: dict | None = None) -> OutputArray:
    """Create a float32 output: a temporary zarr store for ``.zarr``, else a numpy array."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not is_zarr_path(path):
        return OutputArray(np.zeros(shape, np.float32), path, None, axes)
    import zarr

    tmp = tmp_sibling(path)
    if chunks is None:
        chunks = tuple(min(s, 256) if a in "YX" else 1 for a, s in zip(axes, shape, strict=True))
    arr = zarr.open_array(store=str(tmp), mode="w", shape=shape, chunks=chunks,
                          dtype="float32", fill_value=0.0)
    arr.attrs.update({"axes": axes, ATTR_KEY: attrs or {}})
    return OutputArray(arr, path, tmp, axes)


def write_image(path: str | os.PathLike, data: np.ndarray, axes: str | None = None) -> Path:
    """Write a TIFF (zlib) or zarr atomically; ``axes`` stored as metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        if is_zarr_path(path):
            import zarr

            arr = zarr.open_array(store=str(tmp), mode="w", shape=data.shape, dtype=data.dtype)
            arr[...] = data
            if axes:
                arr.attrs["axes"] = axes
        else:
            import tifffile

            meta = {"axes": axes} if axes else None
            tifffile.imwrite(tmp, data, metadata=meta, compression="zlib",
                             photometric="minisblack")
        replace_path(tmp, path)
    finally:
        remove_path(tmp)
    return path
