"""The cache in napari: the session folder goes when the last viewer closes, and the train
widget's cache row shows the folder and the cache size with a "Clear cache…" button."""

from __future__ import annotations

import atexit
import logging
import weakref
from pathlib import Path

from qtpy.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QWidget,
)

from . import _common
from ._cache import cache_limit, cache_root, cache_size, clear_cache, clear_session
from ._layers import META_KEY

logger = logging.getLogger("napari_blind_denoise")
_VIEWERS: dict[int, weakref.ref] = {}  # the viewers of this process that show our widgets


def in_use_paths(viewers) -> set[Path]:
    """Stores and model folders that the viewers' layers are read from or recorded."""
    used: set[Path] = set()
    for viewer in viewers:
        for layer in viewer.layers:
            meta = (getattr(layer, "metadata", {}) or {}).get(META_KEY, {}) or {}
            for key in ("store", "model_path"):
                if meta.get(key):
                    used.add(Path(meta[key]))
            root = getattr(getattr(layer.data, "store", None), "root", None)
            if root is not None:
                used.add(Path(str(root)))
    return used


def open_viewers() -> list:
    """The watched viewers still open."""
    return [v for ref in _VIEWERS.values() if (v := ref()) is not None]


def watch_viewer(viewer, main_window: QMainWindow) -> None:
    """Remove this process's session folder when the last watched viewer (its
    ``main_window`` destroyed) closes."""
    key = id(viewer)
    if key in _VIEWERS:
        return
    if not _VIEWERS:
        atexit.register(_remove_session)
    _VIEWERS[key] = weakref.ref(viewer)
    main_window.destroyed.connect(lambda *_: viewer_closed(key))


def viewer_closed(key: int) -> None:
    """A watched viewer closed: when none is left, its layers are gone with it, so the
    session folder (ours: marker checked) is removed."""
    _VIEWERS.pop(key, None)
    if not _VIEWERS:
        _remove_session()


def _remove_session() -> None:
    if not _common._SESSION_DIR:
        return
    try:
        clear_session(_common._SESSION_DIR[0], in_use_paths(open_viewers()))
    except OSError:
        logger.exception("could not remove the session cache")


def human_size(n: int) -> str:
    """``1.2 GB``-style size."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


class CacheRow(QWidget):
    """The cache folder and size, and "Clear cache…"."""

    def __init__(self, viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._viewer = viewer
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.clear_button = QPushButton("Clear cache…")
        self.clear_button.setToolTip("Remove the cached results and models of ended sessions "
                                     "and those of this one that no open layer uses")
        self.clear_button.clicked.connect(lambda *_: self.clear())
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.label, 1)
        lay.addWidget(self.clear_button)
        self.refresh()

    def showEvent(self, event) -> None:
        """Once docked in a viewer's window: watch that window closing."""
        top = self.window()
        if isinstance(top, QMainWindow):
            watch_viewer(self._viewer, top)
        self.refresh()
        super().showEvent(event)

    def refresh(self) -> None:
        """Show the session folder and the size of the whole cache."""
        folder = _common.session_dir()
        size = cache_size(cache_root())
        self.label.setText(f"Cache: {folder} ({human_size(size)} of "
                           f"{human_size(cache_limit())})")

    def clear(self, *, confirm: bool = True) -> int:
        """Clear the cache after asking; returns the bytes freed."""
        if confirm and QMessageBox.question(
                self, "Clear cache?",
                "Remove cached results and models that no open layer uses?",
        ) != QMessageBox.StandardButton.Yes:
            return 0
        used = in_use_paths([*open_viewers(), self._viewer])
        freed = clear_cache(cache_root(), _common.session_dir(), used)
        self.refresh()
        return freed
