"""Atomic outputs: write under a temporary sibling name, then rename into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def tmp_sibling(path: Path) -> Path:
    """An unused hidden name next to ``path`` (``.NAME.tmp-XXXX``), not yet created."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    os.unlink(name)
    return Path(name)


def replace_path(tmp: Path, final: Path) -> None:
    """Move a finished file or folder ``tmp`` to ``final``, replacing what was there.

    Files are replaced atomically (``os.replace``); an existing folder is first moved aside,
    so ``final`` is never a half-written folder.
    """
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


def write_text(path: Path, text: str) -> Path:
    """Write a text file atomically (temporary sibling, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        tmp.write_text(text)
        replace_path(tmp, path)
    finally:
        remove_path(tmp)
    return path
