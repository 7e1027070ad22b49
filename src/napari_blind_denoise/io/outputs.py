"""Files of a method's extra outputs (``blind-denoise ... --<group>-out DIR``).

Images are written by the pipeline's sink (``<name>.tif``); this module writes the rest,
whatever the method: a curve as ``<name>.csv`` (``<name>_c1.csv``... for further channels),
a table as ``<name>.json`` with a ``files`` entry listing every file of the group. Every file
is written atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..core.atomic import SOFTWARE, check_replaceable, refuse_inputs, write_text
from ..core.errors import InputError
from .images import written_by_us


def check_output_dir(folder: str | os.PathLike, flag: str = "output folder") -> Path:
    """Refuse a path that exists and is not a folder."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} exists and is not a folder")
    return path


def planned_files(folder: str | os.PathLike, outputs) -> list[Path]:
    """The files the ``outputs`` of a group would write into ``folder`` (curves: channel 0 and
    any existing per-channel file)."""
    folder = Path(folder)
    suffix = {"image": ".tif", "curve": ".csv", "table": ".json"}
    files = []
    for out in outputs:
        files.append(folder / f"{out.name}{suffix[out.kind]}")
        if out.kind == "curve":
            files += sorted(folder.glob(f"{out.name}_c*.csv"))
    return files


def check_group_folder(folder: str | os.PathLike, outputs, inputs, *, flag: str,
                       overwrite: bool = False) -> Path:
    """Refuse a group folder whose files would replace an input, or a file this program did
    not write (unless ``overwrite``), before any work is done."""
    folder = check_output_dir(folder, flag)
    for path in planned_files(folder, outputs):
        refuse_inputs(path, inputs, f"{flag} file")
        check_replaceable(path, written_by_us, what=f"{flag} file", overwrite=overwrite)
    return folder


def curve_file_name(name: str, channel: int) -> str:
    """``<name>.csv`` for channel 0, ``<name>_c<k>.csv`` for the others."""
    return f"{name}.csv" if channel == 0 else f"{name}_c{channel}.csv"


def write_curve_csv(path: str | os.PathLike, x, y, columns: tuple[str, str], *,
                    overwrite: bool = False) -> Path:
    """Write one two-column CSV atomically (an existing one only if this program wrote it,
    as the ``files`` of our JSON beside it tell, or with ``overwrite``)."""
    rows = "".join(f"{a:.9g},{b:.9g}\n" for a, b in zip(x, y, strict=True))
    write_text(Path(path), ",".join(columns) + "\n" + rows, written_by_us, overwrite=overwrite)
    return Path(path)


def write_output_files(folder: str | os.PathLike, outputs, result, sink=None, *,
                       overwrite: bool = False) -> dict[str, str]:
    """Write the curve and table ``outputs`` of a pipeline ``result`` into ``folder``.

    Parameters
    ----------
    outputs
        The :class:`~napari_blind_denoise.core.methods.ExtraOutput` s of one group.
    result
        The :class:`~napari_blind_denoise.core.pipeline.PipelineResult`.
    sink
        The sink that wrote the image outputs (their paths go into ``files``).
    overwrite
        Replace existing files this program did not write.

    Returns
    -------
    dict
        File key (``noise_std``, ``noise_curve``, ``noise_curve_c1``...) -> path.
    """
    folder = check_output_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for out in outputs:
        if out.kind == "image" and out.name in result.images:
            files[out.name] = str(sink.path(out.name) if sink is not None
                                  else result.images[out.name])
        elif out.kind == "curve":
            for c, (x, y) in enumerate(result.curves[out.name]):
                path = folder / curve_file_name(out.name, c)
                write_curve_csv(path, x, y, out.columns, overwrite=overwrite)
                files[path.stem] = str(path)
    for out in outputs:
        if out.kind == "table":
            path = folder / f"{out.name}.json"
            files[out.name] = str(path)
            table: dict[str, Any] = {**result.tables[out.name], "files": files,
                                     "written_by": SOFTWARE}
            write_text(path, json.dumps(table, indent=2), written_by_us, overwrite=overwrite)
    return files


def write_curve_files(folder: str | os.PathLike, signal, std,
                      summary: dict[str, Any]) -> list[Path]:
    """Write ``noise_curve.csv`` (``signal,std``) and ``noise_model.json``, atomically
    (the noise inspector's export)."""
    folder = check_output_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary_path = folder / "noise_model.json"
    curve_path = folder / "noise_curve.csv"
    for path in (curve_path, summary_path):  # refuse before writing either
        check_replaceable(path, written_by_us, what="export file")
    curve = write_curve_csv(curve_path, signal, std, ("signal", "std"))
    summary = {**summary, "files": {"noise_curve": str(curve_path),
                                    "noise_model": str(summary_path)},
               "written_by": SOFTWARE}
    write_text(summary_path, json.dumps(summary, indent=2), written_by_us)
    return [curve, summary_path]
