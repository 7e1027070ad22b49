"""Small shared pieces of the dock widgets: layer picker, device chooser, output folder,
and running one generator in a background thread with clean error handling and shutdown."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Generator
from pathlib import Path

from napari.qt.threading import GeneratorWorker, create_worker
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ..core import BlindDenoiseError, available_devices
from ._cache import cache_limit, cache_root, create_session, enforce_cap, read_marker
from ._layers import is_reference, layer_problem, result_role

logger = logging.getLogger("napari_blind_denoise")


def memory_budget_box(form=None) -> QSpinBox:
    """MB that prediction may hold in RAM at once; 0 shows "auto" (the core's default, a
    quarter of the available memory); read it with :func:`memory_budget_value`. Added as a
    "Memory budget" row to ``form`` when given."""
    box = QSpinBox()
    box.setRange(0, 1_048_576)
    box.setSingleStep(256)
    box.setSuffix(" MB")
    box.setSpecialValueText("auto")
    box.setToolTip("What prediction may hold in RAM at once, whatever the size of the stack "
                   "(auto: a quarter of the available memory); the tile is made smaller "
                   "when needed")
    if form is not None:
        form.addRow("Memory budget", box)
    return box


def memory_budget_value(box: QSpinBox) -> float | None:
    """The budget in MB, or None for auto."""
    return float(box.value()) or None

# One heavy job (training or prediction) at a time in this process, whichever widget or
# viewer starts it: two jobs would fight for the same cores or GPU.
_JOB_LOCK = threading.Lock()
_SESSION_DIR: list[Path] = []


def session_dir() -> Path:
    """The per-session cache folder for result stores and models (created with our marker
    on first use, when ended sessions beyond the cache cap are removed, ``_cache``)."""
    if not _SESSION_DIR or read_marker(_SESSION_DIR[0]) is None:
        root = cache_root()
        _SESSION_DIR[:] = [create_session(root)]
        try:
            enforce_cap(root, cache_limit(), keep=_SESSION_DIR)
        except OSError:
            logger.exception("could not apply the cache size cap")
    return _SESSION_DIR[0]


def readable(exc: BaseException) -> str:
    """One line for the user: our own errors verbatim, others with their type."""
    if isinstance(exc, (BlindDenoiseError, ValueError)):
        msg = str(exc)
    else:
        msg = f"{type(exc).__name__}: {exc}"
    return msg.splitlines()[0] if msg else type(exc).__name__


def notify_error(what: str, exc: BaseException) -> str:
    """Show a napari error notification and log the full traceback; return the message."""
    from napari.utils.notifications import show_error

    message = f"{what}: {readable(exc)}"
    logger.error(message, exc_info=(type(exc), exc, exc.__traceback__))
    show_error(message)
    return message


def progress_widgets() -> tuple[QProgressBar, QLabel]:
    """A progress bar in thousandths (shown as %) and a word-wrapped status line."""
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setFormat("%p%")
    status = QLabel("Ready")
    status.setWordWrap(True)
    return bar, status


class LayerPicker(QComboBox):
    """Lists the viewer's image layers that can be denoised; follows adds, removals, renames.

    Until the user picks a layer (or :meth:`select` is called) the choice is automatic and
    depends on ``prefer``:

    ``"input"``
        the selected layer, else the current automatic choice, else the newest layer; never
        a reference / ground truth (:func:`is_reference`) or one of our results when
        another layer exists.
    ``"result"``
        the newest denoised result, then any of our results, then as ``"input"``.
    ``"reference"``
        a reference layer (selected first, else the newest), then any other non-result
        layer; never the layer chosen in ``other`` (nothing when no other layer exists).
    """

    def __init__(self, viewer, parent: QWidget | None = None, *, suitable_only: bool = True,
                 prefer: str = "input", other: LayerPicker | None = None):
        super().__init__(parent)
        if prefer not in _RANKS:
            raise ValueError(f"prefer must be one of {sorted(_RANKS)}, got {prefer!r}")
        self._viewer = viewer
        self._suitable_only = suitable_only
        self._rank = _RANKS[prefer]
        self._other = other
        # the layer the user chose (None while the choice is automatic); layers are compared
        # with ==, not `is`: a plugin's viewer hands out proxies of the layers
        self._chosen = None
        self._auto = None
        events = viewer.layers.events
        for ev in (events.inserted, events.removed, events.moved, events.reordered):
            ev.connect(self.refresh)
        events.inserted.connect(self._watch_name)
        viewer.layers.selection.events.active.connect(self.refresh)
        for layer in viewer.layers:
            layer.events.name.connect(self.refresh)
        if other is not None:
            other.currentTextChanged.connect(self.refresh)
        self.activated.connect(self._on_user_choice)
        self.refresh()

    def _watch_name(self, event) -> None:
        event.value.events.name.connect(self.refresh)

    def _on_user_choice(self, index: int) -> None:
        offered = self.layers()
        self._chosen = offered[index] if 0 <= index < len(offered) else None

    def layers(self) -> list:
        """The layers currently offered."""
        out = []
        for layer in self._viewer.layers:
            if self._suitable_only:
                if layer_problem(layer) is None:
                    out.append(layer)
            elif getattr(layer, "_type_string", "") == "image":
                out.append(layer)
        return out

    def _default(self, offered: list):
        """The automatic choice among ``offered`` (``None``: nothing suitable)."""
        taken = self._other.layer() if self._other is not None else None
        active = self._viewer.layers.selection.active
        ranked = [(self._rank(layer, layer == active, layer == self._auto), -i, i)
                  for i, layer in enumerate(offered) if layer != taken]
        ranked = [r for r in ranked if r[0] is not None]
        return offered[min(ranked)[2]] if ranked else None

    def refresh(self, *_) -> None:
        """Rebuild the list: the user's choice when it still exists, else the default."""
        before = self.currentText()
        offered = self.layers()
        if not any(layer == self._chosen for layer in offered):
            self._chosen = None
        target = self._chosen or self._default(offered)
        if self._chosen is None:
            self._auto = target
        self.blockSignals(True)
        self.clear()
        self.addItems([layer.name for layer in offered])
        self.setCurrentIndex(next((i for i, layer in enumerate(offered) if layer == target), -1))
        self.blockSignals(False)
        if self.currentText() != before:
            self.currentTextChanged.emit(self.currentText())

    def layer(self):
        """The chosen layer, or ``None``."""
        index = self.currentIndex()
        if index < 0:
            return None
        name = self.currentText()
        return next((layer for layer in self._viewer.layers if layer.name == name), None)

    def select(self, layer) -> None:
        """Choose ``layer`` as the user would (kept while it exists)."""
        self._chosen = next((x for x in self.layers() if x == layer), None)
        self.refresh()


def _rank_input(layer, active: bool, current: bool) -> tuple:
    return (is_reference(layer), result_role(layer) is not None, not active, not current)


def _rank_result(layer, active: bool, current: bool) -> tuple:
    role = result_role(layer)
    if role is None:
        return (True, True, *_rank_input(layer, active, current))
    return (False, role != "denoised", is_reference(layer))


def _rank_reference(layer, active: bool, current: bool) -> tuple | None:
    if result_role(layer) is not None:
        return None  # a result is never the reference to score against
    return (not is_reference(layer), not active, not current)


_RANKS = {"input": _rank_input, "result": _rank_result, "reference": _rank_reference}


class DeviceChooser(QComboBox):
    """``Automatic`` plus every detected device, each labelled with what was found."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        found = available_devices()
        self.addItem(f"Automatic: {found[0][1]}", "auto")
        for choice, label in found:
            self.addItem(label, choice)

    def device(self) -> str:
        """The chosen device name for :func:`~napari_blind_denoise.core.device.pick_device`."""
        return str(self.currentData())

    def accelerated(self) -> bool:
        """True when the automatic choice is a GPU."""
        return available_devices()[0][0] != "cpu"


class FolderField(QWidget):
    """A folder path with a Browse button; defaults to the session cache folder."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit(str(session_dir()))
        self.edit.setToolTip("Results are written here as zarr stores and read lazily")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit)
        lay.addWidget(browse)

    def _browse(self) -> None:  # pragma: no cover - modal dialog
        path = QFileDialog.getExistingDirectory(self, "Output folder", self.edit.text())
        if path:
            self.edit.setText(path)

    def path(self) -> Path:
        """The chosen folder."""
        return Path(self.edit.text()).expanduser()


def _drive(job: Generator):
    """The worker's generator: ``job``'s events and result (``job`` itself is kept by the
    runner, to be closed when the worker ends)."""
    return (yield from job)


class JobRunner:
    """Runs one generator in a worker thread for a widget; at most one job per process.

    ``on_event`` gets every yielded value and ``on_done`` the return value, both in the GUI
    thread. Errors become a notification (traceback in the log) and ``on_error``;
    ``on_finish`` always runs last, so buttons can be re-enabled there. ``exclusive`` jobs
    (training, prediction) never run two at a time in one process.
    """

    def __init__(self, what: str, *, on_event: Callable, on_done: Callable,
                 on_finish: Callable, on_error: Callable | None = None,
                 exclusive: bool = True) -> None:
        self.what = what
        self.exclusive = exclusive
        self.on_event, self.on_done, self.on_finish = on_event, on_done, on_finish
        self.on_error = on_error
        self.worker: GeneratorWorker | None = None
        self.stop_event = threading.Event()
        self._job: Generator | None = None
        self._owns_lock = False
        self.closed = False

    @property
    def running(self) -> bool:
        """True from :meth:`start` until the worker has finished."""
        return self.worker is not None

    @staticmethod
    def refuse() -> None:
        """Tell the user a job is already running."""
        from napari.utils.notifications import show_warning

        show_warning("A denoising job is already running; wait for it or press Stop.")

    def start(self, gen_func: Callable, *args, **kwargs) -> GeneratorWorker | None:
        """Start ``gen_func(*args, stop=<event>, **kwargs)`` in a worker thread.

        Refuses (notification, returns ``None``) while any job runs in this process.
        """
        if self.running or (self.exclusive and not _JOB_LOCK.acquire(blocking=False)):
            self.refuse()
            return None
        self.closed = False
        self.stop_event = threading.Event()
        try:
            # napari's worker: its task status lets napari cancel it when the window closes
            job = gen_func(*args, stop=self.stop_event, **kwargs)
            worker = create_worker(_drive, job, _start_thread=False, _ignore_errors=True)
        except BaseException:
            if self.exclusive:
                _JOB_LOCK.release()
            raise
        self._owns_lock = self.exclusive
        self._job = job
        # one readable notification from us (traceback logged), not napari's relay as well
        with contextlib.suppress(TypeError, RuntimeError):
            worker.errored.disconnect(worker._relay_error)
        worker.yielded.connect(self._event)
        worker.returned.connect(self._done)
        worker.errored.connect(self._errored)
        worker.finished.connect(self._finished)
        self.worker = worker
        worker.start()
        return worker

    def _event(self, value) -> None:
        if not self.closed:
            self.on_event(value)

    def _done(self, value) -> None:
        if not self.closed:
            self.on_done(value)

    def _errored(self, exc: BaseException) -> None:
        if self.closed:
            logger.error("%s failed after its widget closed", self.what,
                         exc_info=(type(exc), exc, exc.__traceback__))
            return
        notify_error(f"{self.what} failed", exc)
        if self.on_error is not None:
            self.on_error(exc)

    def _finished(self) -> None:
        self.worker = None
        job, self._job = self._job, None
        if job is not None:
            # a job quit mid-way (dock or viewer closed) cleans up now, not when collected:
            # its temporary outputs are removed; a finished job is unaffected
            try:
                job.close()
            except Exception:  # logged: the job is over either way
                logger.exception("%s: cleaning up after the job failed", self.what)
        if self._owns_lock:
            self._owns_lock = False
            _JOB_LOCK.release()
        if not self.closed:
            self.on_finish()

    def request_stop(self) -> None:
        """Ask the job to stop at its next step (its generator checks ``stop_event``)."""
        self.stop_event.set()

    def close(self) -> None:
        """Stop the job and drop its results (dock or viewer closing), without waiting.

        The GUI thread never blocks here: the stop event is set and the worker ends by
        itself at its next check (every phase checks it within about a second,
        ``tests/core/test_stop.py``); its lock is released when it has finished.
        """
        self.closed = True
        worker = self.worker
        if worker is None:
            return
        self.stop_event.set()
        worker.quit()


class JobWidget(QWidget):
    """Base of the dock widgets that run jobs: stops the job when the dock is closed
    (the widget loses its parent) or the widget is destroyed with the viewer; a closed
    dock also takes its job's live layer (``live``, if any) out of the viewer."""

    def __init__(self, runner: JobRunner, parent: QWidget | None = None, *,
                 live=None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.live = live
        self.destroyed.connect(lambda *_: runner.close())

    def event(self, ev) -> bool:
        if ev.type() == QEvent.Type.ParentChange and self.parent() is None:
            self.runner.close()
            if self.live is not None:
                self.live.remove()  # its store is removed when the stopped job ends
        return super().event(ev)
