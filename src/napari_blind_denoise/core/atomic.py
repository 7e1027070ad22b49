"""Atomic outputs: write under a temporary sibling name, then rename into place.

Nothing the program did not write is ever deleted: an existing folder is replaced only when
the caller's ``owned`` test says this program wrote it (a model folder with its manifest and
nothing else, a zarr store with our marker); otherwise :class:`ForeignDataError` is raised and
nothing is touched. Files are replaced only where the caller allows it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import InputError

SOFTWARE = "napari-blind-denoise"  # the marker written into our TIFFs, JSON files and stores


class ForeignDataError(InputError):
    """An output path holds data this program did not write: nothing was changed."""


def is_inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies inside it (resolved, symlinks followed)."""
    p, f = Path(path).resolve(), Path(folder).resolve()
    return p == f or f in p.parents


def refuse_inputs(output: Path, inputs: Iterable, what: str = "output") -> None:
    """Refuse an output that is, or (as a folder) contains, one of ``inputs``."""
    for i in inputs:
        if i is not None and is_inside(Path(i), Path(output)):
            raise ForeignDataError(f"{what} {output} is or contains the input {i}; "
                                   "choose another path (nothing was changed)")


def check_replaceable(final: Path, owned: Callable[[Path], bool] | None, *,
                      what: str = "output", overwrite: bool = False) -> None:
    """Refuse to replace ``final`` unless this program wrote it.

    Parameters
    ----------
    owned
        Tells whether an existing ``final`` was written by this program; ``None``: files may
        be replaced (the user named this path as an output), folders never.
    overwrite
        Also replace a foreign *file* (never a foreign folder).
    """
    final = Path(final)
    if not (final.exists() or final.is_symlink()):
        return
    if owned is not None and owned(final):
        return
    is_dir = final.is_dir()
    if not is_dir and (owned is None or overwrite):
        return
    kind = "a folder" if is_dir else "a file"
    hint = "" if is_dir else " (--overwrite replaces a file)"
    raise ForeignDataError(f"{what} {final} exists and is {kind} napari-blind-denoise did not "
                           f"write; nothing was changed: choose another path{hint}")


def tmp_sibling(path: Path) -> Path:
    """An unused hidden name next to ``path`` (``.NAME.tmp-XXXX``), not yet created."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def replace_path(tmp: Path, final: Path, owned: Callable[[Path], bool] | None = None, *,
                 overwrite: bool = False) -> None:
    """Move a finished file or folder ``tmp`` to ``final``, replacing what was there only if
    :func:`check_replaceable` allows it.

    Files are replaced atomically (``os.replace``); an existing folder (ours) is first moved
    aside, so ``final`` is never a half-written folder.

    Raises
    ------
    ForeignDataError
        ``final`` holds data this program did not write.
    """
    check_replaceable(final, owned, overwrite=overwrite)
    if final.is_dir():
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        final.rename(old)
        tmp.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def remove_path(path: Path) -> None:
    """Delete a file or folder if it exists."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def write_text(path: Path, text: str, owned: Callable[[Path], bool] | None = None, *,
               overwrite: bool = False) -> Path:
    """Write a text file atomically (temporary sibling, then rename); an existing file is
    replaced as :func:`check_replaceable` allows."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_replaceable(path, owned, overwrite=overwrite)
    tmp = tmp_sibling(path)
    try:
        tmp.write_text(text)
        replace_path(tmp, path, owned, overwrite=overwrite)
    finally:
        remove_path(tmp)
    return path
