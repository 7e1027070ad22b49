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

from ..core.atomic import write_text
from ..core.errors import InputError


def check_output_dir(folder: str | os.PathLike, flag: str = "output folder") -> Path:
    """Refuse a path that exists and is not a folder."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"{flag} {path} exists and is not a folder")
    return path


def curve_file_name(name: str, channel: int) -> str:
    """``<name>.csv`` for channel 0, ``<name>_c<k>.csv`` for the others."""
    return f"{name}.csv" if channel == 0 else f"{name}_c{channel}.csv"


def write_curve_csv(path: str | os.PathLike, x, y, columns: tuple[str, str]) -> Path:
    """Write one two-column CSV atomically."""
    rows = "".join(f"{a:.9g},{b:.9g}\n" for a, b in zip(x, y, strict=True))
    write_text(Path(path), ",".join(columns) + "\n" + rows)
    return Path(path)


def write_output_files(folder: str | os.PathLike, outputs, result, sink=None) -> dict[str, str]:
    """Write the curve and table ``outputs`` of a pipeline ``result`` into ``folder``.

    Parameters
    ----------
    outputs
        The :class:`~napari_blind_denoise.core.methods.ExtraOutput` s of one group.
    result
        The :class:`~napari_blind_denoise.core.pipeline.PipelineResult`.
    sink
        The sink that wrote the image outputs (their paths go into ``files``).

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
                write_curve_csv(path, x, y, out.columns)
                files[path.stem] = str(path)
    for out in outputs:
        if out.kind == "table":
            path = folder / f"{out.name}.json"
            files[out.name] = str(path)
            table: dict[str, Any] = {**result.tables[out.name], "files": files}
            write_text(path, json.dumps(table, indent=2))
    return files


def write_curve_files(folder: str | os.PathLike, signal, std,
                      summary: dict[str, Any]) -> list[Path]:
    """Write ``noise_curve.csv`` (``signal,std``) and ``noise_model.json``, atomically
    (the noise inspector's export)."""
    folder = check_output_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    curve = write_curve_csv(folder / "noise_curve.csv", signal, std, ("signal", "std"))
    summary_path = folder / "noise_model.json"
    write_text(summary_path, json.dumps(summary, indent=2))
    return [curve, summary_path]
