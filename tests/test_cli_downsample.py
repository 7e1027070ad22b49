"""``--downsample``: parsing, refusal, and a pixel-shuffle run reported in the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_blind_denoise._cli_common import make_config
from napari_blind_denoise.cli import build_parser
from tests.test_cli import FAST, cli, last_json, write_tif


def parse(*argv):
    return build_parser().parse_args(["denoise", "in.tif", "-o", "out.tif", *argv])


@pytest.mark.parametrize(("flag", "value"), [("auto", "auto"), ("1", 1), ("3", 3)])
def test_downsample_flag_parsed(flag: str, value) -> None:
    args = parse("--method", "n2s", "--downsample", flag, "--device", "cpu")
    assert args.downsample == value
    config, _ = make_config(args)
    assert config.mask.downsample == value


def test_default_unchanged() -> None:
    args = parse("--method", "n2v", "--device", "cpu")
    assert args.downsample is None
    config, _ = make_config(args)
    assert config.mask.downsample == 1 and config.mask.blind_spot == "auto"


@pytest.mark.parametrize("bad", ["0", "-2", "2.5", "two"])
def test_bad_downsample_is_an_argument_error(capsys, bad: str) -> None:
    with pytest.raises(SystemExit) as exc:
        parse("--method", "n2s", f"--downsample={bad}")
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --downsample: downsample must be 'auto' or a whole number >= 1" in err


def test_downsample_refused_for_other_methods(capsys, tmp_path: Path) -> None:
    from tests.conftest import make_noisy

    src = write_tif(tmp_path / "n.tif", make_noisy((64, 64))[0])
    rc, _, err = cli(capsys, "denoise", src, "-o", tmp_path / "o.tif", "--method", "nnet",
                     "--downsample", "3", "--steps", 2, *FAST)
    assert rc == 2 and "--downsample needs a method that trains on pixel-shuffle" in err
    assert not (tmp_path / "o.tif").exists()


def test_downsample_auto_on_scan_line_noise(capsys, tmp_path: Path) -> None:
    from napari_blind_denoise.core import add_noise
    from tests.conftest import make_blobs

    clean = make_blobs((128, 128), seed=6) * 300.0 + 50.0
    src = write_tif(tmp_path / "scan.tif", add_noise(clean, "scanline", sigma=0.1, length=3))
    rc, stdout, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2s",
                          "--downsample", "auto", "--steps", 3, "--json", "--no-yardstick",
                          *FAST)
    assert rc == 0, err
    assert "noise correlated over 2 px along X" in err and "pixel-shuffle stride 3" in err
    adapted = last_json(stdout)["adapted"]
    assert adapted["downsample"] == 3 and adapted["blind_spot"] == "pixel"
    assert adapted["pixel_shuffle"]["summary"] == "pixel-shuffle stride 3"
    assert (tmp_path / "out.tif").exists()
