"""The npe2 manifest: valid, packaged, and every python_name resolves."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.resources import files

import pytest

from tests.conftest import REPO_ROOT

npe2 = pytest.importorskip("npe2")
yaml = pytest.importorskip("yaml")

DIST = "napari-blind-denoise"


def packaged_yaml() -> dict:
    return yaml.safe_load((files("napari_blind_denoise") / "napari.yaml").read_text())


def test_npe2_validate() -> None:
    proc = subprocess.run([sys.executable, "-m", "npe2", "validate", DIST],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifest_from_distribution() -> None:
    manifest = npe2.PluginManifest.from_distribution(DIST)
    assert manifest.name == DIST
    assert manifest.display_name == packaged_yaml()["display_name"]
    assert manifest.contributions.sample_data


def test_top_level_manifest_matches_packaged() -> None:
    top = REPO_ROOT / "napari.yaml"
    assert top.exists()
    assert yaml.safe_load(top.read_text()) == packaged_yaml()


def test_every_python_name_resolves() -> None:
    manifest = npe2.PluginManifest.from_distribution(DIST)
    commands = manifest.contributions.commands or []
    assert commands
    for cmd in commands:
        module_name, _, attr = cmd.python_name.partition(":")
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert callable(obj), cmd.python_name


def test_contributions_refer_to_declared_commands() -> None:
    manifest = npe2.PluginManifest.from_distribution(DIST)
    ids = {c.id for c in manifest.contributions.commands or []}
    contribs = manifest.contributions
    for group in ("sample_data", "readers", "writers", "widgets"):
        for item in getattr(contribs, group) or []:
            assert item.command in ids, f"{group} refers to unknown command {item.command}"


def test_manifest_contributes_the_three_widgets() -> None:
    manifest = npe2.PluginManifest.from_distribution(DIST)
    names = [w.display_name for w in manifest.contributions.widgets or []]
    assert names == ["Denoise (train)", "Denoise (apply model)", "Compare to ground truth",
                     "Noise inspector"]
