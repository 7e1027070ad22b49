"""Core, io and the CLI never import the GUI stack."""

from __future__ import annotations

import subprocess
import sys

GUI_MODULES = ("napari", "qtpy", "magicgui", "PyQt6", "PyQt5", "PySide6", "superqt", "vispy")


def test_core_io_cli_do_not_import_gui() -> None:
    code = (
        "import sys\n"
        "import napari_blind_denoise, napari_blind_denoise.core, napari_blind_denoise.io\n"
        "import napari_blind_denoise.cli, napari_blind_denoise.sample_data\n"
        "from napari_blind_denoise import denoise\n"
        "napari_blind_denoise.cli.build_parser()\n"
        "assert 'torch' in sys.modules and 'napari_blind_denoise.core.train' in sys.modules\n"
        f"bad = sorted(m for m in {GUI_MODULES!r} if m in sys.modules)\n"
        "assert not bad, f'GUI modules imported: {bad}'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"

