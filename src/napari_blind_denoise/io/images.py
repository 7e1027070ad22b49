"""Image files in and out.

Inputs: TIFF (axes from metadata when present), zarr (read lazily; an OME-Zarr image's level
0 with its axes, ``io.omezarr``), PNG/JPEG, ``.npy`` (memory-mapped). A ``.ome.zarr`` output
is an OME-Zarr image with its own pyramid, the input's pixel size kept. Outputs go to a
temporary sibling name and are renamed into place only when complete, so an interrupted run
never leaves a file that looks finished.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.atomic import (
    SOFTWARE,
    check_replaceable,
    refuse_inputs,
    remove_path,
    replace_path,
    tmp_sibling,
)
from ..core.errors import InputError
from .omezarr import (
    OME_SUFFIX,
    check_ome_axes,
    create_ome_zarr,
    fill_pyramid,
    is_ome_suffix,
    is_ome_zarr,
    ome_models,
    read_ome_zarr,
    write_ome_zarr,
)

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


#: A TIFF larger than this (decoded) is read lazily unless the caller sets its own limit.
WHOLE_TIFF_BYTES = 512 * 2**20


def _read_tiff(p: Path, whole_below: int | None) -> tuple[object, str | None]:
    """A TIFF's first series: read whole when its decoded size is at most ``whole_below``
    bytes (``None``: :data:`WHOLE_TIFF_BYTES`), else a lazy zarr array over the file
    (tifffile's zarr interface, level 0), read page by page as prediction needs it."""
    import tifffile

    limit = WHOLE_TIFF_BYTES if whole_below is None else whole_below
    with tifffile.TiffFile(p) as tf:
        axes = _tiff_axes(tf)
        series = tf.series[0]
        size = int(np.prod(series.shape, dtype=np.int64)) * np.dtype(series.dtype).itemsize
        if size <= limit:
            return tf.asarray(), axes
    import zarr

    store = tifffile.imread(p, aszarr=True, series=0, level=0)
    return zarr.open_array(store=store, mode="r"), axes


def read_image(path: str | os.PathLike, *,
               whole_below: int | None = None) -> tuple[object, str | None]:
    """Open an image; returns ``(array, axes or None)``.

    A zarr store and a ``.npy`` file are read lazily; a TIFF larger than ``whole_below``
    bytes too (:func:`_read_tiff`); PNG/JPEG files are read whole.

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
            return _read_tiff(p, whole_below)
        if suffix == ".zarr":
            import zarr

            if is_ome_zarr(p):
                ome = read_ome_zarr(p)
                return ome.level0, ome.axes
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


def input_spacing(path: str | os.PathLike) -> dict[str, tuple[float, str | None]]:
    """The pixel size an input's metadata gives, per axis letter: ``{"Z": (2.0, "micrometer"),
    ...}`` for an OME-Zarr image, an ImageJ TIFF or an OME-TIFF, ``{}`` for anything else
    (outputs then get 1 per axis)."""
    p = Path(path)
    if is_zarr_path(p) and is_ome_zarr(p):
        return read_ome_zarr(p).spacing()
    if p.suffix.lower() in TIFF_SUFFIXES:
        from .tiffmeta import tiff_spacing

        return tiff_spacing(p)
    return {}


def check_output_axes(path: str | os.PathLike, axes: str) -> None:
    """Refuse, before any work, axes the output's format cannot hold (OME-Zarr: T, C, Z, Y,
    X in that order)."""
    if is_ome_suffix(path):
        check_ome_axes(axes)


def is_our_zarr(path: str | os.PathLike) -> bool:
    """True for a zarr store this program wrote (its attributes carry our marker)."""
    import json

    meta = Path(path) / "zarr.json"
    try:
        attrs = json.loads(meta.read_text()).get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return False
    return isinstance(attrs, dict) and ATTR_KEY in attrs


def is_our_tiff(path: str | os.PathLike) -> bool:
    """True for a TIFF this program wrote (its ``Software`` tag is ours)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            return tf.pages[0].software == SOFTWARE
    except Exception:  # noqa: BLE001 - anything unreadable is not ours
        return False


def written_by_us(path: str | os.PathLike) -> bool:
    """True when the file or store at ``path`` carries this program's marker (TIFF, zarr,
    JSON), or is a CSV that one of our JSON files beside it lists as its own."""
    import json

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".zarr":
        return is_our_zarr(p)
    if suffix in TIFF_SUFFIXES:
        return is_our_tiff(p)
    if suffix in (".json", ".csv"):
        for js in [p] if suffix == ".json" else sorted(p.parent.glob("*.json")):
            try:
                data = json.loads(js.read_text())
            except (OSError, ValueError):
                continue
            listed = {Path(str(v)).name for v in dict(data.get("files") or {}).values()} if (
                isinstance(data, dict)) else set()
            if isinstance(data, dict) and data.get("written_by") == SOFTWARE and (
                    js == p or p.name in listed):
                return True
    return False


def check_output_path(output: str | os.PathLike, inputs: list[str | os.PathLike]) -> Path:
    """Refuse unknown output suffixes, outputs that are (or hold) an input, and an existing
    ``.zarr`` output this program did not write (a TIFF the user named may be replaced)."""
    out = Path(output)
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"output {out} must end in .tif, .tiff or .zarr")
    for i in inputs:
        if Path(i).resolve() == out.resolve():
            raise InputError(f"output {out} is the same file as the input; choose another name")
    refuse_inputs(out, inputs)
    if is_zarr_path(out):
        check_replaceable(out, is_our_zarr)
    if is_ome_suffix(out):
        ome_models("0.5")  # ome-zarr-models is installed, or a clear error before any work
    return out


@dataclass
class OutputArray:
    """An output being written: ``array`` to fill, then :meth:`commit` or :meth:`abort`."""

    array: object
    path: Path
    tmp: Path | None
    axes: str
    implicit: bool = False
    overwrite: bool = False
    spacing: dict[str, tuple[float, str | None]] | None = None  # a TIFF's pixel size

    def commit(self) -> Path:
        """Move the finished output into place (atomic rename; an OME-Zarr image gets its
        pyramid first). An existing zarr store, or a file of an ``implicit`` name, is
        replaced only if this program wrote it."""
        if is_zarr_path(self.path):
            if is_ome_suffix(self.path):
                import zarr

                fill_pyramid(zarr.open_group(store=str(self.tmp), mode="r+"))
            replace_path(self.tmp, self.path, is_our_zarr)
        else:  # a TIFF: written whole from memory, or streamed from the temporary store
            write_image(self.path, self.array, self.axes,
                        owned=written_by_us if self.implicit else None,
                        overwrite=self.overwrite, spacing=self.spacing)
            if self.tmp is not None:
                remove_path(self.tmp)
        self.tmp = None
        return self.path

    def abort(self) -> None:
        """Remove the temporary output."""
        if self.tmp is not None:
            remove_path(self.tmp)
        self.tmp = None


def _chunks(shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    """Output chunks: one plane, at most 256×256 pixels."""
    return tuple(min(s, 256) if a in "YX" else 1 for a, s in zip(axes, shape, strict=True))


def open_output(path: str | os.PathLike, shape: tuple[int, ...], axes: str,
                chunks: tuple[int, ...] | None = None, attrs: dict | None = None, *,
                implicit: bool = False, overwrite: bool = False,
                spacing: dict[str, tuple[float, str | None]] | None = None,
                whole_below: int | None = None, fill_value: float = 0.0) -> OutputArray:
    """Create a float32 output: a temporary zarr store for ``.zarr`` (an OME-Zarr image, its
    level 0 to fill, for ``.ome.zarr``); for a TIFF a numpy array, or, when the output is
    larger than ``whole_below`` bytes, a temporary zarr store streamed into the TIFF plane by
    plane on commit (so it is never held whole).

    ``implicit``: the program chose the file name (e.g. ``noise_std.tif`` in a folder), so an
    existing file there is replaced only if this program wrote it (or ``overwrite``).
    ``spacing``: axis letter -> ``(pixel size, unit)`` for an OME-Zarr output (else 1) or a
    TIFF (OME-XML, :func:`write_image`).
    ``fill_value``: what a plain ``.zarr`` store reads where nothing was written yet (NaN
    shows unfinished regions as blank to a reader of the temporary store; the pipeline
    writes every pixel before a commit, so a committed store never shows it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import zarr

    if not is_zarr_path(path):
        nbytes = 4 * int(np.prod(shape, dtype=np.int64))
        if whole_below is None or nbytes <= whole_below:
            return OutputArray(np.zeros(shape, np.float32), path, None, axes, implicit,
                               overwrite, spacing)
        # a large TIFF: filled in a temporary zarr store, streamed into the TIFF on commit
        tmp = tmp_sibling(path.with_name(path.name + ".zarr"))
        arr = zarr.open_array(store=str(tmp), mode="w", shape=shape, chunks=_chunks(shape, axes),
                              dtype="float32", fill_value=0.0)
        return OutputArray(arr, path, tmp, axes, implicit, overwrite, spacing)
    tmp = tmp_sibling(path)
    if is_ome_suffix(path):
        name = path.name[: -len(OME_SUFFIX)]
        try:
            group = create_ome_zarr(tmp, shape, axes, spacing=spacing, name=name, attrs=attrs)
        except BaseException:
            remove_path(tmp)
            raise
        return OutputArray(group["0"], path, tmp, axes, implicit, overwrite)
    arr = zarr.open_array(store=str(tmp), mode="w", shape=shape,
                          chunks=chunks or _chunks(shape, axes), dtype="float32",
                          fill_value=fill_value)
    arr.attrs.update({"axes": axes, ATTR_KEY: attrs or {}})
    return OutputArray(arr, path, tmp, axes, implicit, overwrite)


def write_image(path: str | os.PathLike, data, axes: str | None = None, *,
                owned=None, overwrite: bool = False,
                spacing: dict[str, tuple[float, str | None]] | None = None) -> Path:
    """Write a TIFF (zlib) or zarr atomically; ``axes`` stored as metadata, and our marker.
    ``data``: a numpy array, or for a TIFF any array with ``shape``, ``dtype`` and indexing
    (a zarr array is written one page at a time).

    An existing zarr store is replaced only if this program wrote it; an existing file only
    if ``owned(path)`` says so (``None``: the caller named the path, it may be replaced) or
    with ``overwrite``. A ``.ome.zarr`` path is written as an OME-Zarr image with its pyramid
    and ``spacing`` (axis letter -> pixel size, unit), replacing only our own; a TIFF with a
    ``spacing`` for any of its Z, Y, X, T axes is an OME-TIFF carrying it (read back by
    ``io.tiffmeta.tiff_spacing``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if is_ome_suffix(path):
        from ..core.data.axes import guess_axes

        return write_ome_zarr(path, data, axes or guess_axes(data.shape, data.dtype),
                              spacing=spacing, owned=is_our_zarr)
    zarr_out = is_zarr_path(path)
    check_replaceable(path, is_our_zarr if zarr_out else owned, overwrite=overwrite)
    tmp = tmp_sibling(path)
    try:
        if zarr_out:
            import zarr

            arr = zarr.open_array(store=str(tmp), mode="w", shape=data.shape, dtype=data.dtype)
            arr[...] = data
            arr.attrs.update({"axes": axes or "", ATTR_KEY: {}})
        else:
            import tifffile

            from .tiffmeta import ome_pixel_size

            meta = {"axes": axes} if axes else None
            pixel_size = ome_pixel_size(axes, spacing) if axes else {}
            kwargs = {"metadata": meta, "compression": "zlib", "photometric": "minisblack",
                      "software": SOFTWARE}
            if pixel_size:
                kwargs.update(ome=True, metadata={"axes": axes, **pixel_size})
            if isinstance(data, np.ndarray) or data.ndim < 3:
                tifffile.imwrite(tmp, np.asarray(data), **kwargs)
            else:  # a lazy array (zarr): one page at a time, never the whole image
                pages = (np.asarray(data[i]) for i in np.ndindex(*data.shape[:-2]))
                tifffile.imwrite(tmp, pages, shape=tuple(data.shape), dtype=data.dtype,
                                 **kwargs)
        replace_path(tmp, path, is_our_zarr if zarr_out else owned, overwrite=overwrite)
    finally:
        remove_path(tmp)
    return path
