"""The napari reader (npe2 ``readers`` contribution); no napari import.

It opens, lazily (never loading the whole image):

- an OME-Zarr image (``*.zarr`` / ``*.ome.zarr`` folders, NGFF 0.4 or 0.5): level 0 of its
  pyramid, with the scale, translation, axis names and units of its metadata;
- a plain zarr array this program wrote (our marker in its attributes), with its axes;
- a TIFF, through tifffile's zarr interface (level 0 of a pyramidal TIFF), with the pixel
  size of its ImageJ or OME-XML metadata.

Any other path (another suffix, a folder that is not zarr, a zarr store without image data,
a foreign plain zarr array, which napari's own reader opens) gets ``None``, so other readers
are asked; it never raises.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

from .images import ATTR_KEY, TIFF_SUFFIXES, is_our_zarr, is_zarr_path
from .omezarr import is_ome_zarr, read_ome_zarr

LayerData = tuple[object, dict, str]


def get_reader(path: str | os.PathLike | list) -> Callable[..., list[LayerData]] | None:
    """The function that reads ``path``, or ``None`` if this plugin does not own it."""
    if isinstance(path, list | tuple):
        return get_reader(path[0]) if len(path) == 1 else None
    p = Path(path)
    try:
        if is_zarr_path(p) and p.is_dir():
            if is_ome_zarr(p):
                return _ome_reader()
            return read_our_zarr if _is_our_array(p) else None
        if p.suffix.lower() in TIFF_SUFFIXES and p.is_file():
            return read_tiff
    except Exception:  # noqa: BLE001 - a reader that cannot tell says no
        return None
    return None


def _ome_reader() -> Callable[..., list[LayerData]] | None:
    """:func:`read_ome`, or ``None`` (with a warning) without ome-zarr-models."""
    try:
        import ome_zarr_models  # noqa: F401
    except ImportError:
        warnings.warn("napari-blind-denoise reads OME-Zarr with ome-zarr-models: install "
                      "the [ome] extra (pip install 'napari-blind-denoise[ome]')", stacklevel=2)
        return None
    return read_ome


def _is_our_array(path: Path) -> bool:
    import zarr

    if not is_our_zarr(path):
        return False
    try:
        return isinstance(zarr.open(store=str(path), mode="r"), zarr.Array)
    except Exception:  # noqa: BLE001 - unreadable: not ours to open
        return False


def _labels(axes: str | None, ndim: int) -> dict:
    """``axis_labels`` for napari when the axes are known and match the data."""
    return {"axis_labels": tuple(axes)} if axes and len(axes) == ndim else {}


def read_ome(path: str | os.PathLike | list) -> list[LayerData]:
    """Level 0 of an OME-Zarr image as one image layer (a lazy zarr array) with its scale."""
    p = Path(path[0] if isinstance(path, list | tuple) else path)
    ome = read_ome_zarr(p)
    kwargs: dict = {"name": ome.name or p.name.removesuffix(".zarr").removesuffix(".ome"),
                    "scale": ome.scale, "translate": ome.translation,
                    "axis_labels": ome.axis_names,
                    "metadata": {ATTR_KEY: ome.attrs} if ome.attrs else {}}
    if any(u for u in ome.units):
        kwargs["units"] = tuple(u or "pixel" for u in ome.units)
    return [(ome.level0, kwargs, "image")]


def read_our_zarr(path: str | os.PathLike | list) -> list[LayerData]:
    """A zarr array this program wrote, as one lazy image layer with its axes."""
    import zarr

    p = Path(path[0] if isinstance(path, list | tuple) else path)
    arr = zarr.open_array(store=str(p), mode="r")
    axes = arr.attrs.get("axes")
    ours = arr.attrs.get(ATTR_KEY)
    kwargs = {"name": p.stem, "metadata": {ATTR_KEY: dict(ours)} if ours else {},
              **_labels(axes if isinstance(axes, str) else None, arr.ndim)}
    return [(arr, kwargs, "image")]


def read_tiff(path: str | os.PathLike | list) -> list[LayerData]:
    """A TIFF's first series (level 0 of a pyramid) as one lazy image layer, through
    tifffile's zarr interface."""
    import tifffile
    import zarr

    from .tiffmeta import tiff_spacing

    p = Path(path[0] if isinstance(path, list | tuple) else path)
    with tifffile.TiffFile(p) as tf:
        axes = tf.series[0].axes
    store = tifffile.imread(p, aszarr=True, series=0, level=0)
    arr = zarr.open_array(store=store, mode="r")
    kwargs = {"name": p.stem, **(_labels(axes, arr.ndim) if "S" not in axes else {})}
    spacing = tiff_spacing(p)
    if spacing and len(axes) == arr.ndim:
        kwargs["scale"] = tuple(spacing.get(a, (1.0, None))[0] for a in axes)
        units = tuple(spacing.get(a, (1.0, None))[1] for a in axes)
        if any(units):
            kwargs["units"] = tuple(u or "pixel" for u in units)
    return [(arr, kwargs, "image")]
