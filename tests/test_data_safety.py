"""Never delete or overwrite what the program did not write; never touch an input.

Each case was a bug before: saving a model into a folder deleted what was in it, a
``--save-model`` folder holding the zarr input deleted the input, an existing ``.zarr`` output
was replaced whatever it held, and ``--noise-out DIR`` could overwrite an input inside DIR.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

from napari_blind_denoise.cli import main
from napari_blind_denoise.core import (
    ForeignDataError,
    is_model_folder,
    load_model,
    run_to_completion,
    save_model,
    train,
)
from tests.conftest import make_noisy, tiny_config

FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu", "--steps", "2",
        "--quiet"]


def digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def cli(capsys, *argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    return rc, capsys.readouterr().err


@pytest.fixture
def noisy_tif(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "noisy.tif"
    path.parent.mkdir()
    tifffile.imwrite(path, make_noisy((64, 72))[0])
    return path


@pytest.fixture
def trained():
    return run_to_completion(train(make_noisy((64, 64))[0], "YX", tiny_config("n2s", steps=2)))


def test_save_model_into_a_folder_with_data_refused(trained, tmp_path: Path) -> None:
    folder = tmp_path / "experiment"
    folder.mkdir()
    (folder / "raw.tif").write_bytes(b"my only copy")
    before = digest(tmp_path)
    with pytest.raises(ForeignDataError, match="did not write"):
        save_model(trained, folder)
    assert digest(tmp_path) == before


def test_save_model_replaces_its_own_model(trained, tmp_path: Path) -> None:
    folder = save_model(trained, tmp_path / "model")
    assert is_model_folder(folder)
    save_model(trained, folder)  # ours: replaced
    assert load_model(folder).method == "n2s"
    (folder / "notes.txt").write_text("mine")  # now it holds something of the user's
    assert not is_model_folder(folder)
    with pytest.raises(ForeignDataError):
        save_model(trained, folder)
    assert (folder / "notes.txt").read_text() == "mine"


def test_save_model_onto_a_file_refused(trained, tmp_path: Path) -> None:
    path = tmp_path / "model"
    path.write_text("a file")
    with pytest.raises(ForeignDataError):
        save_model(trained, path)
    assert path.read_text() == "a file"


def test_save_model_folder_holding_the_zarr_input_refused(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "work"
    store = folder / "input.zarr"
    arr = zarr.open_array(store=str(store), mode="w", shape=(64, 72), dtype="float32")
    arr[...] = make_noisy((64, 72))[0]
    before = digest(tmp_path)
    rc, err = cli(capsys, "denoise", store, "-o", tmp_path / "out.tif", "--method", "n2v",
                  "--save-model", folder, *FAST)
    assert rc == 2 and "is or contains the input" in err
    assert digest(tmp_path) == before


def test_existing_foreign_zarr_output_refused(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.zarr"
    arr = zarr.open_array(store=str(out), mode="w", shape=(4, 4), dtype="float32")
    arr[...] = 7.0  # somebody else's store
    before = digest(tmp_path)
    rc, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2v", "--overwrite",
                  *FAST)
    assert rc == 2 and "did not write" in err
    assert digest(tmp_path) == before


def test_own_zarr_output_is_replaced(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.zarr"
    for _ in range(2):
        rc, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2v", *FAST)
        assert rc == 0, err
    assert zarr.open_array(store=str(out), mode="r").shape == (64, 72)


def test_noise_out_never_overwrites_an_input(capsys, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    src = folder / "noise_std.tif"  # the input has the name of a noise output
    tifffile.imwrite(src, make_noisy((64, 72))[0])
    before = digest(tmp_path)
    rc, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "nnet",
                  "--noise-out", folder, "--overwrite", *FAST)
    assert rc == 2 and "input" in err
    assert digest(tmp_path) == before


def test_noise_out_foreign_file_needs_overwrite(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    folder = tmp_path / "noise"
    folder.mkdir()
    (folder / "noise_curve.csv").write_text("my,own\n1,2\n")
    before = digest(tmp_path)
    args = ["denoise", noisy_tif, "-o", tmp_path / "out.tif", "--method", "nnet",
            "--noise-out", folder, *FAST]
    rc, err = cli(capsys, *args)
    assert rc == 2 and "--overwrite" in err
    assert digest(tmp_path) == before
    rc, err = cli(capsys, *args, "--overwrite")
    assert rc == 0, err
    assert (folder / "noise_curve.csv").read_text().startswith("signal,std")
    # a second run replaces its own files without --overwrite
    rc, err = cli(capsys, *args)
    assert rc == 0, err


def test_demo_never_replaces_foreign_files(capsys, tmp_path: Path) -> None:
    (tmp_path / "denoised.tif").write_bytes(b"not ours")
    rc, err = cli(capsys, "demo", "--out", tmp_path, "--steps", "2", "--quiet")
    assert rc == 2 and "did not write" in err
    assert (tmp_path / "denoised.tif").read_bytes() == b"not ours"


def test_explicit_tif_output_is_replaced(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    out.write_bytes(b"old result the user named again")
    rc, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2v", *FAST)
    assert rc == 0, err
    assert tifffile.imread(out).shape == (64, 72)
    assert np.isfinite(tifffile.imread(out)).all()
