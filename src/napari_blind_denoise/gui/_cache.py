"""The widgets' cache: one session folder per napari process for result stores and models.

``<temp>/napari-blind-denoise/session-<time>-<pid>/`` holds the zarr stores the result layers
are read from and the kept models. Rules (docs/reliability.md):

- Only what this program wrote is ever deleted: a session folder carries our marker file
  (``MARKER``, JSON with ``written_by``); inside it only zarr stores with our marker and our
  model folders are removed, and the folder itself only once nothing else is left in it.
- A store or model that backs an open layer (``in_use``) is never removed.
- The folder of a running napari (its process is alive) is never removed by another one.
- The cap (``cache_limit``, ``NAPARI_BLIND_DENOISE_CACHE_GB``, default 20 GB) removes the
  folders of ended sessions, oldest first, until the whole cache fits.

No Qt here; ``_common.py`` connects it to viewers and widgets.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from ..core import SOFTWARE, is_model_folder
from ..io import is_our_zarr

MARKER = ".napari-blind-denoise-session.json"
LIMIT_ENV = "NAPARI_BLIND_DENOISE_CACHE_GB"
DEFAULT_LIMIT_GB = 20.0


def cache_root() -> Path:
    """The folder holding every session folder."""
    return Path(tempfile.gettempdir()) / "napari-blind-denoise"


def cache_limit() -> int:
    """The cache size cap in bytes (``NAPARI_BLIND_DENOISE_CACHE_GB``, default 20 GB)."""
    try:
        gb = float(os.environ.get(LIMIT_ENV, DEFAULT_LIMIT_GB))
    except ValueError:
        gb = DEFAULT_LIMIT_GB
    return int(max(gb, 0.0) * 1e9)


def create_session(root: Path) -> Path:
    """A new session folder of this process under ``root``, with our marker."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = Path(root) / f"session-{stamp}-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    marker = {"written_by": SOFTWARE, "pid": os.getpid(), "host": socket.gethostname(),
              "created": time.time()}
    (folder / MARKER).write_text(json.dumps(marker))
    return folder


def read_marker(folder: Path) -> dict | None:
    """Our marker of a session folder, or ``None`` when ``folder`` is not one of ours."""
    folder = Path(folder)
    if folder.is_symlink() or not folder.name.startswith("session-"):
        return None
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("written_by") != SOFTWARE:
        return None
    return marker


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":  # no safe liveness probe here: treat it as running
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def is_active(folder: Path) -> bool:
    """True when the session's napari process may still be running (or it is ours)."""
    marker = read_marker(folder) or {}
    pid = marker.get("pid")
    if not isinstance(pid, int):
        return False
    if marker.get("host") != socket.gethostname():
        return True  # a shared temp folder: we cannot tell
    return pid == os.getpid() or _pid_alive(pid)


def sessions(root: Path) -> list[Path]:
    """Our session folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(m.get("created", 0.0), p) for p in root.iterdir()
             if (m := read_marker(p)) is not None]
    return [p for _, p in sorted(found, key=lambda t: (t[0], t[1].name))]


def folder_size(path: Path) -> int:
    """Bytes in the files under ``path`` (symlinks not followed)."""
    total = 0
    for dirpath, _, names in os.walk(path):
        for name in names:
            p = os.path.join(dirpath, name)
            if not os.path.islink(p):
                total += os.path.getsize(p)
    return total


def _ours(entry: Path) -> list[Path]:
    """The entries of a session folder this program wrote: stores and model folders."""
    if entry.is_symlink():
        return []
    if entry.suffix == ".zarr" and is_our_zarr(entry):
        return [entry]
    if entry.name == "models" and entry.is_dir():
        return [m for m in entry.iterdir() if not m.is_symlink() and is_model_folder(m)]
    return []


def _used(path: Path, in_use: set[Path]) -> bool:
    p = path.resolve()
    return any(u == p or p in u.parents for u in in_use)


def clear_session(folder: Path, in_use: Iterable[Path] = (), *, remove_folder: bool = True,
                  ) -> int:
    """Remove our stores and models in a session folder, except those in ``in_use`` (or
    holding them); with ``remove_folder`` remove the folder too once nothing else is left.
    Returns bytes freed.

    A folder without our marker is never touched (0 is returned).
    """
    folder = Path(folder)
    if read_marker(folder) is None:
        return 0
    used = {Path(u).resolve() for u in in_use}
    freed = 0
    for entry in list(folder.iterdir()):
        for item in _ours(entry):
            if not _used(item, used):
                freed += folder_size(item)
                shutil.rmtree(item, ignore_errors=True)
    models = folder / "models"
    if models.is_dir() and not models.is_symlink() and not any(models.iterdir()):
        models.rmdir()
    if remove_folder and {p.name for p in folder.iterdir()} == {MARKER}:
        (folder / MARKER).unlink()
        folder.rmdir()
    return freed


def enforce_cap(root: Path, limit: int, keep: Iterable[Path] = ()) -> list[Path]:
    """Remove ended sessions (not in ``keep``, process not running), oldest first, until
    the cache under ``root`` is at most ``limit`` bytes; return the removed folders."""
    keep = {Path(k).resolve() for k in keep}
    found = sessions(root)
    sizes = {p: folder_size(p) for p in found}
    total = sum(sizes.values())
    removed = []
    for folder in found:
        if total <= limit:
            break
        if folder.resolve() in keep or is_active(folder):
            continue
        total -= clear_session(folder)
        if not folder.exists():
            removed.append(folder)
    return removed


def cache_size(root: Path) -> int:
    """Bytes in our session folders under ``root``."""
    return sum(folder_size(p) for p in sessions(root))


def clear_cache(root: Path, own: Path, in_use: Iterable[Path]) -> int:
    """The "Clear cache" action: our own session's stores and models that back no open
    layer, and every ended session; returns bytes freed."""
    freed = clear_session(own, in_use, remove_folder=False)
    for folder in sessions(root):
        if folder.resolve() != Path(own).resolve() and not is_active(folder):
            freed += clear_session(folder)
    return freed
