"""The session cache: removed when napari closes, kept while layers use it, capped (ended
sessions, oldest first), and never a folder or store without our marker."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from napari_blind_denoise.gui import _cache
from napari_blind_denoise.io import open_output


def store(folder: Path, name: str, n: int = 64) -> Path:
    out = open_output(folder / f"{name}.zarr", (n, n), "YX", attrs={"role": "denoised"})
    out.array[:] = 1.0
    return out.commit()


def session(root: Path, name: str, pid: int, created: float) -> Path:
    folder = root / f"session-{name}"
    folder.mkdir(parents=True)
    (folder / _cache.MARKER).write_text(json.dumps(
        {"written_by": "napari-blind-denoise", "pid": pid,
         "host": __import__("socket").gethostname(), "created": created}))
    return folder


@pytest.fixture
def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_clear_session_removes_only_our_unused_entries(tmp_path) -> None:
    folder = _cache.create_session(tmp_path)
    used, unused = store(folder, "a"), store(folder, "b")
    (folder / "notes.txt").write_text("the user's")
    foreign = folder / "theirs.zarr"
    foreign.mkdir()
    (foreign / "zarr.json").write_text("{}")
    freed = _cache.clear_session(folder, {used})
    assert freed > 0 and used.exists() and not unused.exists()
    assert (folder / "notes.txt").exists() and foreign.exists()
    _cache.clear_session(folder)
    assert not used.exists() and folder.exists(), "a folder holding foreign files was removed"
    (folder / "notes.txt").unlink()
    foreign.joinpath("zarr.json").unlink()
    foreign.rmdir()
    store(folder, "c")
    _cache.clear_session(folder)
    assert not folder.exists()


def test_folders_without_our_marker_are_never_removed(tmp_path, dead_pid) -> None:
    plain = tmp_path / "session-plain"
    plain.mkdir()
    s1 = store(plain, "x")
    other = session(tmp_path, "other", dead_pid, 0.0)
    (other / _cache.MARKER).write_text(json.dumps({"written_by": "someone", "pid": dead_pid}))
    s2 = store(other, "y")
    assert _cache.clear_session(plain) == 0 and _cache.clear_session(other) == 0
    assert _cache.enforce_cap(tmp_path, 0) == []
    assert s1.exists() and s2.exists()


def test_cap_removes_ended_sessions_oldest_first(tmp_path, dead_pid) -> None:
    running = session(tmp_path, "running", 1, 1.0)  # pid 1 is alive: a running napari
    oldest = session(tmp_path, "oldest", dead_pid, 2.0)
    middle = session(tmp_path, "middle", dead_pid, 3.0)
    own = _cache.create_session(tmp_path)
    for folder in (running, oldest, middle, own):
        store(folder, "s", 128)
    size = _cache.folder_size(middle)
    total = _cache.cache_size(tmp_path)
    removed = _cache.enforce_cap(tmp_path, total - size // 2, keep=[own])
    assert removed == [oldest]
    assert running.exists() and middle.exists() and own.exists()
    removed = _cache.enforce_cap(tmp_path, 0, keep=[own])
    assert removed == [middle]
    assert running.exists() and own.exists(), "a running session was removed"


def test_cache_limit_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv(_cache.LIMIT_ENV, "0.5")
    assert _cache.cache_limit() == 500_000_000
    monkeypatch.setenv(_cache.LIMIT_ENV, "lots")
    assert _cache.cache_limit() == int(_cache.DEFAULT_LIMIT_GB * 1e9)


@pytest.fixture
def fresh_session(monkeypatch, tmp_path):
    """A cache under ``tmp_path`` and no session folder yet in this process."""
    from napari_blind_denoise.gui import _cache_widget, _common

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.setattr(_common, "_SESSION_DIR", [])
    monkeypatch.setattr(_cache_widget, "_VIEWERS", {})
    return tmp_path / "tmp" / "napari-blind-denoise"


def _train_into_session(widget, layer, qtbot):
    from napari_blind_denoise.gui import _common
    from tests.gui.conftest import run_job

    folder = _common.session_dir()
    widget.output.edit.setText(str(folder))
    widget.layer_picker.select(layer)
    widget.steps.setValue(3)
    run_job(qtbot, widget, widget.start_training)
    return folder


@pytest.mark.gui
def test_session_removed_when_the_viewer_closes(fresh_session, viewer, sample,
                                                train_widget, qtbot) -> None:
    folder = _train_into_session(train_widget, sample[0], qtbot)
    stores = sorted(folder.glob("*.zarr"))
    assert stores and (folder / "models").is_dir()
    assert str(folder) in train_widget.cache.label.text()
    assert "0 B" not in train_widget.cache.label.text()
    viewer.close()
    qtbot.waitUntil(lambda: not folder.exists(), timeout=10_000)


@pytest.mark.gui
def test_clear_cache_keeps_what_open_layers_use(fresh_session, viewer, sample,
                                                train_widget, qtbot, dead_pid) -> None:
    folder = _train_into_session(train_widget, sample[0], qtbot)
    ended = session(fresh_session, "ended", dead_pid, 0.0)
    store(ended, "old")
    layer = viewer.layers["nuclei noisy denoised"]
    backing = Path(layer.metadata["napari_blind_denoise"]["store"])
    extra = store(folder, "unused")
    assert train_widget.cache.clear(confirm=False) > 0
    assert backing.exists() and not extra.exists() and not ended.exists()
    assert np.asarray(layer.data).any()
    for name in [n.name for n in viewer.layers if n.name.startswith("nuclei noisy ")]:
        viewer.layers.remove(name)
    train_widget.cache.clear(confirm=False)
    assert not backing.exists() and folder.exists(), "the live session folder was removed"
    assert not list(folder.glob("*.zarr")) and not (folder / "models").exists()
