"""OME-Zarr images in and out (NGFF 0.5 written, 0.4 and 0.5 read).

The metadata is built and parsed by ``ome-zarr-models`` (the ``[ome]`` extra), never written
by hand. Level 0 of a pyramid is read lazily as a ``zarr.Array``. A written image has its own
pyramid: level 0, then up to :data:`MAX_LEVELS` - 1 levels each half the size in Y and X
(2×2 means), computed block by block from the level above. Our provenance sits next to the
``ome`` attributes under ``napari_blind_denoise`` (the marker :func:`io.images.is_our_zarr`
reads), and every write goes to a temporary sibling that is renamed into place when complete.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.atomic import remove_path, replace_path, tmp_sibling
from ..core.errors import InputError

ATTR_KEY = "napari_blind_denoise"
OME_SUFFIX = ".ome.zarr"
MAX_LEVELS = 5  # level 0 and up to four 2x downsampled levels
MIN_LEVEL_EDGE = 32  # no level whose Y or X would be smaller than this
CHUNK_EDGE = 256
_AXIS_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}
EXTRA_HINT = "install the [ome] extra: pip install 'napari-blind-denoise[ome]'"


@dataclass
class OmeImage:
    """Level 0 of an OME-Zarr multiscale image and what its metadata says about it.

    ``scale``/``translation``/``units`` are per axis of ``level0`` (``units`` entries are
    ``None`` where the file gives none); ``axes`` is upper case (``ZYX``) or ``None`` when
    the file's axis names are not the usual ``t c z y x``.
    """

    level0: Any
    axes: str | None
    axis_names: tuple[str, ...]
    scale: tuple[float, ...]
    translation: tuple[float, ...]
    units: tuple[str | None, ...]
    name: str | None = None
    attrs: dict = field(default_factory=dict)
    n_levels: int = 1

    def spacing(self) -> dict[str, tuple[float, str | None]]:
        """Axis letter -> ``(scale, unit)``, for writing an output with other axes."""
        if self.axes is None:
            return {}
        return {a: (s, u) for a, s, u in zip(self.axes, self.scale, self.units, strict=True)}


def is_ome_suffix(path: str | os.PathLike) -> bool:
    """True for ``*.ome.zarr`` paths (outputs written as OME-Zarr)."""
    return str(path).rstrip("/\\").lower().endswith(OME_SUFFIX)


def _group_attrs(path: Path) -> dict | None:
    """The attributes of the zarr group at ``path`` (zarr v2 or v3), or ``None``."""
    import zarr

    try:
        node = zarr.open(store=str(path), mode="r")
    except Exception:  # noqa: BLE001 - anything that is not a readable zarr node
        return None
    if not isinstance(node, zarr.Group):
        return None
    return dict(node.attrs)


def is_ome_zarr(path: str | os.PathLike) -> bool:
    """True for a folder holding an OME-Zarr multiscale image (NGFF 0.4 or 0.5)."""
    p = Path(path)
    if not p.is_dir():
        return False
    attrs = _group_attrs(p)
    if attrs is None:
        return False
    ome = attrs.get("ome") if isinstance(attrs.get("ome"), dict) else attrs
    return bool(ome.get("multiscales"))


def ome_models(version: str):
    """``(Image, Axis)`` of ome-zarr-models for NGFF ``version`` ("0.4" or "0.5")."""
    try:
        if version == "0.4":
            from ome_zarr_models.v04.axes import Axis
            from ome_zarr_models.v04.image import Image

            # with pydantic >= 2.13 the 0.4 model needs its forward references resolved
            # (ome-zarr-models issue 417); harmless where it is not needed
            Image.model_rebuild()
        else:
            from ome_zarr_models.v05.axes import Axis
            from ome_zarr_models.v05.image import Image
    except ImportError:
        raise InputError(f"reading or writing OME-Zarr needs ome-zarr-models: {EXTRA_HINT}"
                         ) from None
    return Image, Axis


def _vector(transforms, kind: str, ndim: int, neutral: float) -> np.ndarray:
    """The product (scale) or sum (translation) of the vector transforms of ``kind``."""
    out = np.full(ndim, neutral, float)
    for t in transforms or ():
        values = getattr(t, kind, None)
        if getattr(t, "type", None) == kind and values is not None:
            out = out * np.asarray(values, float) if kind == "scale" else (
                out + np.asarray(values, float))
    return out


def read_ome_zarr(path: str | os.PathLike) -> OmeImage:
    """Open level 0 of the OME-Zarr image at ``path`` lazily, with its scale and axes.

    Raises
    ------
    InputError
        Not an OME-Zarr image, metadata the library rejects, or ome-zarr-models missing.
    """
    import zarr

    p = Path(path)
    attrs = _group_attrs(p)
    if attrs is None or not is_ome_zarr(p):
        raise InputError(f"{p} is not an OME-Zarr image (no multiscales metadata)")
    version = "0.5" if isinstance(attrs.get("ome"), dict) else "0.4"
    image_cls, _ = ome_models(version)
    group = zarr.open_group(store=str(p), mode="r")
    try:
        image = image_cls.from_zarr(group)
    except Exception as exc:  # noqa: BLE001 - the library's validation errors vary
        first = str(exc).splitlines()[0]
        raise InputError(f"{p}: OME-Zarr metadata not understood: {first}") from None
    meta = image.ome_attributes if version == "0.5" else image.attributes
    ms = meta.multiscales[0]
    level0 = group[ms.datasets[0].path]
    ndim = len(ms.axes)
    scale = _vector(ms.datasets[0].coordinateTransformations, "scale", ndim, 1.0)
    scale *= _vector(ms.coordinateTransformations, "scale", ndim, 1.0)
    shift = _vector(ms.datasets[0].coordinateTransformations, "translation", ndim, 0.0)
    shift += _vector(ms.coordinateTransformations, "translation", ndim, 0.0)
    names = tuple(str(a.name) for a in ms.axes)
    letters = "".join(n.upper() for n in names)
    axes = letters if set(letters) <= set(_AXIS_TYPES) and len(set(letters)) == ndim else None
    units = tuple(getattr(a, "unit", None) for a in ms.axes)
    ours = attrs.get(ATTR_KEY)
    return OmeImage(level0=level0, axes=axes, axis_names=names, scale=tuple(map(float, scale)),
                    translation=tuple(map(float, shift)), units=units, name=ms.name,
                    attrs=dict(ours) if isinstance(ours, dict) else {},
                    n_levels=len(ms.datasets))


# -- writing --------------------------------------------------------------------------------

def check_ome_axes(axes: str) -> None:
    """Refuse axes an OME-Zarr image cannot have: NGFF wants T, C, then Z/Y/X, in that
    order, with Y and X (2-5 axes).

    Raises
    ------
    InputError
        The axes (e.g. ``ZCYX`` or ``SYX``) cannot be written as OME-Zarr.
    """
    order = "TCZYX"
    ok = (set(axes) <= set(order) and "Y" in axes and "X" in axes and axes.endswith("YX")
          and list(axes) == sorted(axes, key=order.index) and len(set(axes)) == len(axes))
    if not ok:
        raise InputError(f"axes {axes} cannot be written as OME-Zarr, which needs them in "
                         "the order T, C, Z, Y, X; write a .tif or a plain .zarr instead")


def level_shapes(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shapes of the pyramid levels: each halves Y and X (rounded up) while both stay at
    least :data:`MIN_LEVEL_EDGE`, at most :data:`MAX_LEVELS` levels."""
    shapes = [tuple(shape)]
    while len(shapes) < MAX_LEVELS:
        *lead, y, x = shapes[-1]
        ny, nx = (y + 1) // 2, (x + 1) // 2
        if min(ny, nx) < MIN_LEVEL_EDGE:
            break
        shapes.append((*lead, ny, nx))
    return shapes


def default_chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    """One plane of at most ``CHUNK_EDGE``² per chunk."""
    return (*(1 for _ in shape[:-2]), *(min(s, CHUNK_EDGE) for s in shape[-2:]))


def _axis_specs(axes: str, spacing: Mapping[str, tuple[float, str | None]], axis_cls):
    specs, scale = [], []
    for a in axes:
        s, unit = spacing.get(a, (1.0, None))
        kind = _AXIS_TYPES[a]
        specs.append(axis_cls(name=a.lower(), type=kind, unit=unit if kind != "channel" else
                              None))
        scale.append(float(s) if kind != "channel" else 1.0)
    return specs, scale


def create_ome_zarr(path: str | os.PathLike, shape: tuple[int, ...], axes: str, *,
                    dtype="float32", spacing: Mapping[str, tuple[float, str | None]] | None
                    = None, translation: tuple[float, ...] | None = None,
                    name: str | None = None, attrs: dict | None = None):
    """Create an empty OME-Zarr 0.5 image (all its levels) at ``path``; its zarr group.

    ``spacing``: axis letter -> ``(level-0 scale, unit or None)``; axes not in it get 1.
    Fill level ``"0"``, then call :func:`fill_pyramid`.
    """
    import zarr

    check_ome_axes(axes)
    image_cls, axis_cls = ome_models("0.5")
    from pydantic_zarr.v3 import ArraySpec

    shapes = level_shapes(tuple(shape))
    specs = []
    for lvl in shapes:
        template = zarr.create_array(store=zarr.storage.MemoryStore(), shape=lvl,
                                     chunks=default_chunks(lvl), dtype=dtype, fill_value=0,
                                     dimension_names=[a.lower() for a in axes])
        # the template's own zarr metadata (chunks, compression): pydantic-zarr 0.9's
        # from_array drops the chunk grid and the compressor of a zarr 3 array
        specs.append(ArraySpec.model_validate(template.metadata.to_dict()))
    axis_specs, scale0 = _axis_specs(axes, spacing or {}, axis_cls)
    scales = [[s * (2**k if a in "YX" else 1) for a, s in zip(axes, scale0, strict=True)]
              for k in range(len(shapes))]
    shift = list(translation) if translation is not None and any(translation) else None
    image = image_cls.new(array_specs=specs, paths=[str(k) for k in range(len(shapes))],
                          axes=axis_specs, scales=scales,
                          translations=[shift] * len(shapes), name=name)
    image.to_zarr(zarr.storage.LocalStore(str(path)), path="")
    group = zarr.open_group(store=str(path), mode="r+")
    group.attrs.update({ATTR_KEY: dict(attrs or {})})
    return group


def _blocks(shape: tuple[int, ...], edge: int):
    """Index tuples covering ``shape``: one plane of the leading axes, ``edge``² in Y/X."""
    for lead in np.ndindex(*shape[:-2]):
        for y in range(0, shape[-2], edge):
            for x in range(0, shape[-1], edge):
                yield (*lead, slice(y, y + edge), slice(x, x + edge))


def _halve(block: np.ndarray) -> np.ndarray:
    """2×2 means over the last two axes (an odd edge repeats its last row/column)."""
    y, x = block.shape[-2:]
    pad = [(0, 0)] * (block.ndim - 2) + [(0, y % 2), (0, x % 2)]
    b = np.pad(block.astype(np.float64), pad, mode="edge")
    b = b.reshape(*b.shape[:-2], b.shape[-2] // 2, 2, b.shape[-1] // 2, 2).mean(axis=(-3, -1))
    return b


def fill_pyramid(group, edge: int = 2 * CHUNK_EDGE) -> None:
    """Compute levels ``1..`` from level ``0``, one ``edge``² block of the level above at a
    time (memory bounded by the block, whatever the image's size)."""
    k = 1
    while str(k) in group:
        src, dst = group[str(k - 1)], group[str(k)]
        for idx in _blocks(src.shape, edge):
            half = _halve(np.asarray(src[idx]))
            y0, x0 = idx[-2].start // 2, idx[-1].start // 2
            out = (*idx[:-2], slice(y0, y0 + half.shape[-2]), slice(x0, x0 + half.shape[-1]))
            kind = np.dtype(dst.dtype).kind
            dst[out] = np.rint(half) if kind in "iu" else half
        k += 1


def copy_into(dst, data, edge: int = 2 * CHUNK_EDGE) -> None:
    """Copy ``data`` (numpy, zarr or dask; never loaded whole) into the zarr array ``dst``."""
    for idx in _blocks(tuple(data.shape), edge):
        dst[idx] = np.asarray(data[idx])


def write_ome_zarr(path: str | os.PathLike, data, axes: str, *,
                   spacing: Mapping[str, tuple[float, str | None]] | None = None,
                   translation: tuple[float, ...] | None = None, name: str | None = None,
                   attrs: dict | None = None, owned=None) -> Path:
    """Write ``data`` as an OME-Zarr image with its pyramid, atomically.

    An existing folder at ``path`` is replaced only if ``owned(path)`` says this program
    wrote it (:class:`~napari_blind_denoise.core.atomic.ForeignDataError` otherwise, before
    anything is written).
    """
    from ..core.atomic import check_replaceable

    path = Path(path)
    check_ome_axes(axes)
    check_replaceable(path, owned)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        group = create_ome_zarr(tmp, tuple(data.shape), axes, dtype=np.dtype(data.dtype),
                                spacing=spacing, translation=translation, name=name,
                                attrs=attrs)
        copy_into(group["0"], data)
        fill_pyramid(group)
        replace_path(tmp, path, owned)
    finally:
        remove_path(tmp)
    return path
