"""Pixel size of a TIFF, from its ImageJ or OME-XML metadata (nothing else is trusted: plain
TIFFs carry a resolution of 1 or a scanner's dots per inch); and the OME-XML pixel size a
TIFF output is written with."""

from __future__ import annotations

import os

# unit symbols of ImageJ and OME-XML -> the UDUNITS names OME-Zarr uses
_UNITS = {"um": "micrometer", "µm": "micrometer", "μm": "micrometer", "\\u00B5m": "micrometer",
          "micron": "micrometer", "microns": "micrometer", "micrometer": "micrometer",
          "nm": "nanometer", "nanometer": "nanometer", "mm": "millimeter",
          "millimeter": "millimeter", "cm": "centimeter", "m": "meter", "pm": "picometer",
          "Å": "angstrom", "s": "second", "ms": "millisecond", "min": "minute", "h": "hour"}


# UDUNITS names -> the OME-XML unit symbols written (the inverse of _UNITS)
_SYMBOLS = {"micrometer": "µm", "nanometer": "nm", "millimeter": "mm", "centimeter": "cm",
            "meter": "m", "picometer": "pm", "angstrom": "Å", "second": "s",
            "millisecond": "ms", "minute": "min", "hour": "h"}


def _unit(text) -> str | None:
    return _UNITS.get(str(text).strip()) if text else None


def _per_pixel(tag) -> float | None:
    """``1 / resolution`` of an X/YResolution tag value ``(num, den)``; None when unset."""
    if tag is None:
        return None
    num, den = tag.value
    return float(den) / float(num) if num else None


def _imagej(tf) -> dict[str, tuple[float, str | None]]:
    meta = tf.imagej_metadata or {}
    unit = _unit(meta.get("unit"))
    page = tf.pages[0]
    found = {}
    for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
        size = _per_pixel(page.tags.get(tag))
        if (size and size != 1.0) or unit:
            found[axis] = (size or 1.0, unit)
    if meta.get("spacing"):
        found["Z"] = (float(meta["spacing"]), unit)
    if meta.get("finterval"):
        found["T"] = (float(meta["finterval"]), _unit(meta.get("tunit")) or "second")
    return found


def _ome(tf) -> dict[str, tuple[float, str | None]]:
    import tifffile

    image = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]
    pixels = (image[0] if isinstance(image, list) else image)["Pixels"]
    found = {}
    for axis in "XYZ":
        size = pixels.get(f"PhysicalSize{axis}")
        if size:
            found[axis] = (float(size), _unit(pixels.get(f"PhysicalSize{axis}Unit", "µm")))
    if pixels.get("TimeIncrement"):
        found["T"] = (float(pixels["TimeIncrement"]),
                      _unit(pixels.get("TimeIncrementUnit", "s")))
    return found


def tiff_spacing(path: str | os.PathLike) -> dict[str, tuple[float, str | None]]:
    """Axis letter -> ``(pixel size, unit or None)`` from an ImageJ or OME-TIFF's metadata;
    ``{}`` for other TIFFs or anything unreadable."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            if tf.is_ome and tf.ome_metadata:
                return _ome(tf)
            if tf.is_imagej:
                return _imagej(tf)
    except Exception:  # noqa: BLE001 - metadata that cannot be read gives no pixel size
        return {}
    return {}


def ome_pixel_size(axes: str, spacing: dict[str, tuple[float, str | None]] | None) -> dict:
    """The OME-XML keys of tifffile's OME writer (``PhysicalSizeX``, ``PhysicalSizeXUnit``,
    ``TimeIncrement``...) for the Z, Y, X and T axes of ``axes`` that ``spacing`` (axis
    letter -> ``(size, unit or None)``) gives; ``{}`` when it gives none, or when ``axes``
    are not all OME axes (T, C, Z, Y, X). A unit with no OME symbol is left out (OME then
    reads µm, or s for T)."""
    if not spacing or not set(axes) <= set("TCZYX"):
        return {}
    keys = {"X": "PhysicalSizeX", "Y": "PhysicalSizeY", "Z": "PhysicalSizeZ",
            "T": "TimeIncrement"}
    found: dict[str, object] = {}
    for axis in axes:
        if axis in keys and axis in spacing:
            size, unit = spacing[axis]
            found[keys[axis]] = float(size)
            if unit in _SYMBOLS:
                found[keys[axis] + "Unit"] = _SYMBOLS[unit]
    return found
