"""The ``blind-denoise`` command line: commands, JSON summaries, one-line errors."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr

import napari_blind_denoise
from napari_blind_denoise.cli import main
from napari_blind_denoise.core import TrainingSession
from napari_blind_denoise.io import read_image
from tests.conftest import make_noisy

FAST = ["--patch-size", "32", "--batch-size", "4", "--device", "cpu"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def write_tif(path: Path, data: np.ndarray, axes: str | None = "YX") -> Path:
    tifffile.imwrite(path, data, metadata={"axes": axes} if axes else None,
                     photometric="minisblack")
    return path


def visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def noisy_tif(tmp_path: Path) -> Path:
    return write_tif(tmp_path / "noisy.tif", make_noisy((64, 72))[0])


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    noisy, clean = make_noisy((64, 72), seed=2)
    return write_tif(tmp_path / "n.tif", noisy), write_tif(tmp_path / "c.tif", clean)


# -- commands ------------------------------------------------------------------------------

def test_denoise_json(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.tif"
    rc, stdout, _ = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2v",
                        "--steps", 20, "--json", *FAST)
    assert rc == 0
    summary = last_json(stdout)
    assert {"method", "steps", "train_seconds", "total_seconds", "output"} <= set(summary)
    assert summary["method"] == "n2v" and summary["steps"] == 20
    assert summary["output"] == str(out)
    assert 0 < summary["train_seconds"] <= summary["total_seconds"]
    data, axes = read_image(out)
    assert axes == "YX"
    assert data.shape == (64, 72) and data.dtype == np.float32
    assert np.isfinite(data).all()
    noisy = tifffile.imread(noisy_tif)
    assert abs(float(data.mean()) - float(noisy.mean())) < 0.1 * np.ptp(noisy)
    assert [p for p in visible(tmp_path) if p.startswith(".")] == []


def test_denoise_to_zarr_plain_output(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.zarr"
    rc, stdout, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2s",
                          "--steps", 5, *FAST)
    assert rc == 0
    assert f"output: {out}" in stdout.splitlines()
    assert "train" in err  # progress goes to stderr
    arr, axes = read_image(out)
    assert isinstance(arr, zarr.Array) and axes == "YX"
    attrs = dict(arr.attrs["napari_blind_denoise"])
    adapted = attrs.pop("adapted")  # what the method chose from the data goes with the image
    assert attrs == {"method": "n2s", "role": "denoised"}
    assert adapted["blind_spot"] == "pixel" and adapted["noise_correlation"]["independent"]
    assert np.isfinite(arr[...]).all()
    assert visible(tmp_path) == ["noisy.tif", "out.zarr"]


def test_denoise_stack_with_axes(capsys, tmp_path: Path) -> None:
    stack = np.stack([make_noisy((40, 48), seed=s)[0] for s in range(2)])
    inp = write_tif(tmp_path / "stack.tif", stack, axes=None)
    out = tmp_path / "out.tif"
    rc, stdout, _ = cli(capsys, "denoise", inp, "-o", out, "--method", "n2v", "--axes", "TYX",
                        "--steps", 3, "--json", "--quiet", *FAST)
    assert rc == 0
    assert last_json(stdout)["axes"] == "TYX"
    data, axes = read_image(out)
    assert axes == "TYX" and data.shape == stack.shape


def test_save_model_then_predict(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    model, first = tmp_path / "model", tmp_path / "first.tif"
    rc, stdout, _ = cli(capsys, "denoise", noisy_tif, "-o", first, "--method", "n2v",
                        "--steps", 5, "--save-model", model, "--json", "--quiet", *FAST)
    assert rc == 0
    assert last_json(stdout)["model"] == str(model)
    assert (model / "config.json").is_file() and (model / "weights.safetensors").is_file()
    second = tmp_path / "second.zarr"
    rc, stdout, _ = cli(capsys, "predict", noisy_tif, "--model", model, "-o", second,
                        "--device", "cpu", "--json", "--quiet")
    assert rc == 0
    summary = last_json(stdout)
    assert summary["method"] == "n2v" and summary["output"] == str(second)
    np.testing.assert_allclose(read_image(second)[0][...], read_image(first)[0],
                               rtol=1e-5, atol=1e-3)
    third = tmp_path / "third.tif"  # several small tiles
    rc, _, err = cli(capsys, "predict", noisy_tif, "--model", model, "-o", third,
                     "--device", "cpu", "--tile-size", 32, "--quiet")
    assert rc == 0, err
    tiles = read_image(third)[0]
    assert tiles.shape == (64, 72) and np.isfinite(tiles).all()


def test_eval_json(capsys, pair: tuple[Path, Path], tmp_path: Path) -> None:
    noisy, clean = pair
    out = tmp_path / "result.tif"
    rc, stdout, _ = cli(capsys, "eval", "--noisy", noisy, "--clean", clean, "--method", "n2s",
                        "--steps", 20, "--json", "--quiet", "-o", out, *FAST)
    assert rc == 0
    s = last_json(stdout)
    for key in ("input_psnr", "input_ssim", "input_psnr_fit", "input_ssim_fit",
                "result_psnr", "result_ssim", "result_psnr_fit", "result_ssim_fit"):
        assert isinstance(s[key], float), key
    assert s["method"] == "n2s" and s["steps"] == 20
    assert 10 < s["input_psnr"] < 40
    assert out.is_file()


def test_eval_table(capsys, pair: tuple[Path, Path]) -> None:
    noisy, clean = pair
    rc, stdout, _ = cli(capsys, "eval", "--noisy", noisy, "--clean", clean, "--method", "n2v",
                        "--steps", 2, "--quiet", *FAST)
    assert rc == 0
    lines = stdout.splitlines()
    assert "PSNR" in lines[0] and lines[1].startswith("input") and lines[2].startswith("result")


def test_eval_shape_mismatch(capsys, tmp_path: Path) -> None:
    noisy = write_tif(tmp_path / "n.tif", make_noisy((64, 72))[0])
    clean = write_tif(tmp_path / "c.tif", make_noisy((64, 64))[1])
    rc, _, err = cli(capsys, "eval", "--noisy", noisy, "--clean", clean, "--method", "n2v",
                     "--steps", 2, *FAST)
    assert rc == 2
    assert err.startswith("blind-denoise: error: clean image shape")


def test_demo(capsys, tmp_path: Path) -> None:
    rc, stdout, _ = cli(capsys, "demo", "--out", tmp_path / "demo", "--steps", 2, "--json",
                        "--quiet", *FAST)
    assert rc == 0
    s = last_json(stdout)
    assert Path(s["output"]).is_file() and Path(s["comparison"]).is_file()
    assert s["psnr_noisy"] == pytest.approx(19, abs=1.5)
    assert s["tta"] is True  # auto: n2v on a small 2-D sample
    assert visible(tmp_path / "demo") == ["comparison.png", "denoised.tif"]


# The demo's own settings (n2v, CPU preset) cut to 100 steps, with a budget the steps reach
# first, so the machine's speed does not decide the result. Measured 2026-12-01 (one thread,
# seeds 0, 1, 2): 19.08 dB -> 31.04 / 30.18 / 30.71 dB, gains +11.96 / +11.10 / +11.63 dB.
# Asked: +9 dB, 2.1 dB below the worst seed (docs/results/2026-12-01-test-margins.txt).
DEMO_MIN_GAIN_DB = 9.0


@pytest.mark.slow
def test_demo_denoises_the_sample(capsys, tmp_path: Path) -> None:
    rc, stdout, _ = cli(capsys, "demo", "--out", tmp_path / "demo", "--steps", 100,
                        "--time-budget", 1000, "--device", "cpu", "--json", "--quiet")
    assert rc == 0
    s = last_json(stdout)
    assert s["steps"] == 100
    gain = s["psnr_denoised"] - s["psnr_noisy"]
    assert gain >= DEMO_MIN_GAIN_DB, f"{s['psnr_noisy']} dB -> {s['psnr_denoised']} dB"


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"blind-denoise {napari_blind_denoise.__version__}"


def test_console_script_installed(tmp_path: Path) -> None:
    exe = shutil.which("blind-denoise", path=str(Path(sys.executable).parent))
    assert exe is not None, "the blind-denoise console script is not installed"
    proc = subprocess.run([exe, "denoise", str(tmp_path / "missing.tif"), "-o",
                           str(tmp_path / "out.tif"), "--method", "n2v"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"blind-denoise: error: input {tmp_path / 'missing.tif'} does not exist"]
    assert "Traceback" not in proc.stderr + proc.stdout


# -- bad input: exit code 2, one line, no traceback, no output ----------------------------

def case_missing(tmp: Path) -> list:
    return ["denoise", tmp / "missing.tif", "-o", tmp / "out.tif", "--method", "n2v"]


def case_text_tif(tmp: Path) -> list:
    (tmp / "text.tif").write_text("not a TIFF at all\nreally\n")
    return ["denoise", tmp / "text.tif", "-o", tmp / "out.tif", "--method", "n2v"]


def case_unsupported(tmp: Path) -> list:
    (tmp / "in.czi").write_bytes(b"\x00" * 64)
    return ["denoise", tmp / "in.czi", "-o", tmp / "out.tif", "--method", "n2v"]


def case_nan(tmp: Path) -> list:
    data = make_noisy((64, 64))[0]
    data[10, 10] = np.nan
    write_tif(tmp / "nan.tif", data)
    return ["denoise", tmp / "nan.tif", "-o", tmp / "out.tif", "--method", "n2v", *FAST]


def case_constant(tmp: Path) -> list:
    write_tif(tmp / "const.tif", np.full((64, 64), 7, np.uint16))
    return ["denoise", tmp / "const.tif", "-o", tmp / "out.zarr", "--method", "n2v", *FAST]


def case_too_small(tmp: Path) -> list:
    write_tif(tmp / "small.tif", make_noisy((20, 20))[0])
    return ["denoise", tmp / "small.tif", "-o", tmp / "out.tif", "--method", "n2v"]


def case_axes_mismatch(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    return ["denoise", tmp / "in.tif", "-o", tmp / "out.tif", "--method", "n2v",
            "--axes", "ZYX"]


def case_bad_axes_letter(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    return ["denoise", tmp / "in.tif", "-o", tmp / "out.tif", "--method", "n2v",
            "--axes", "YW"]


def case_output_is_input(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    return ["denoise", tmp / "in.tif", "-o", tmp / "in.tif", "--method", "n2v"]


def case_output_suffix(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    return ["denoise", tmp / "in.tif", "-o", tmp / "out.png", "--method", "n2v"]


def case_rgb(tmp: Path) -> list:
    tifffile.imwrite(tmp / "rgb.tif", np.zeros((64, 64, 3), np.uint8), photometric="rgb")
    return ["denoise", tmp / "rgb.tif", "-o", tmp / "out.tif", "--method", "n2v"]


def case_corrupt_model(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    (tmp / "model").mkdir()
    (tmp / "model" / "config.json").write_text("{broken")
    (tmp / "model" / "weights.safetensors").write_bytes(b"\x00" * 32)
    return ["predict", tmp / "in.tif", "--model", tmp / "model", "-o", tmp / "out.tif"]


def case_garbage_weights(tmp: Path) -> list:
    args = case_corrupt_model(tmp)
    (tmp / "model" / "config.json").write_text(json.dumps({"a": 1}))
    return args


def case_missing_model(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    return ["predict", tmp / "in.tif", "--model", tmp / "nomodel", "-o", tmp / "out.tif"]


def case_eval_missing_clean(tmp: Path) -> list:
    write_tif(tmp / "in.tif", make_noisy((64, 64))[0])
    return ["eval", "--noisy", tmp / "in.tif", "--clean", tmp / "clean.tif", "--method", "n2v"]


def case_eval_output_is_input(tmp: Path) -> list:
    noisy, clean = make_noisy((64, 64))
    write_tif(tmp / "n.tif", noisy)
    write_tif(tmp / "c.tif", clean)
    return ["eval", "--noisy", tmp / "n.tif", "--clean", tmp / "c.tif", "--method", "n2v",
            "-o", tmp / "c.tif", "--steps", 1, "--quiet", *FAST]


BAD_INPUTS: dict[str, tuple[Callable[[Path], list], str]] = {
    "missing file": (case_missing, "does not exist"),
    "text in a .tif": (case_text_tif, "cannot read"),
    "unsupported suffix": (case_unsupported, "unsupported input format"),
    "NaN": (case_nan, "NaN"),
    "constant": (case_constant, "constant"),
    "smaller than patch": (case_too_small, "smaller than the 32x32"),
    "axes mismatch": (case_axes_mismatch, "3 letters but the image has 2"),
    "unknown axis": (case_bad_axes_letter, "unknown letters"),
    "output is input": (case_output_is_input, "same file as the input"),
    "output suffix": (case_output_suffix, "must end in .tif"),
    "RGB TIFF": (case_rgb, "RGB"),
    "corrupt model json": (case_corrupt_model, "not valid JSON"),
    "foreign model json": (case_garbage_weights, "not a napari-blind-denoise model"),
    "missing model": (case_missing_model, "does not exist"),
    "eval missing clean": (case_eval_missing_clean, "does not exist"),
    "eval output is input": (case_eval_output_is_input, "same file as the input"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_exception_bad_input(capsys, tmp_path: Path, case: str) -> None:
    build, expected = BAD_INPUTS[case]
    argv = build(tmp_path)
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    rc, stdout, err = cli(capsys, *argv)
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("blind-denoise: error: ")
    assert expected in lines[0]
    assert "Traceback" not in err + stdout
    assert stdout == ""
    after = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert after == before, "an output or temporary file was left behind, or an input changed"


def test_debug_flag_raises(tmp_path: Path) -> None:
    with pytest.raises(napari_blind_denoise.core.InputError):
        main(["--debug", *map(str, case_missing(tmp_path))])


# -- interrupted or failing runs leave no output ------------------------------------------

@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_interrupt_during_training_leaves_no_output(capsys, monkeypatch, noisy_tif: Path,
                                                    tmp_path: Path, suffix: str) -> None:
    real_step = TrainingSession._step
    calls = []

    def step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(TrainingSession, "_step", step)
    out = tmp_path / f"out{suffix}"
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2v",
                     "--steps", 50, *FAST)
    assert len(calls) == 3
    assert rc == 130
    assert "interrupted" in err and "Traceback" not in err
    assert not out.exists()
    assert visible(tmp_path) == ["noisy.tif"]


def test_failure_during_prediction_leaves_no_output(capsys, monkeypatch, noisy_tif: Path,
                                                    tmp_path: Path) -> None:
    predict_module = importlib.import_module("napari_blind_denoise.core.predict")
    calls = []

    def net_call(self, tile):
        calls.append(1)
        raise ValueError("simulated failure in a tile")

    monkeypatch.setattr(predict_module._Net, "__call__", net_call)
    out = tmp_path / "out.zarr"
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "n2v", "--steps", 2,
                     "--quiet", *FAST)
    assert calls == [1]
    assert rc == 2
    assert err.strip() == "blind-denoise: error: simulated failure in a tile"
    assert visible(tmp_path) == ["noisy.tif"]


def test_small_tile_size(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "out.tif", "--method",
                     "n2v", "--steps", 2, "--tile-size", 64, "--quiet", *FAST)
    assert rc == 0, err


def test_bad_tile_size_is_an_input_error(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "out.tif", "--method",
                     "n2v", "--steps", 2, "--tile-size", 8, "--quiet", *FAST)
    assert rc == 2
    assert err.splitlines() == ["blind-denoise: error: tile_size must be >= 16"]
    assert visible(tmp_path) == ["noisy.tif"]


def test_bad_tile_size_refused_before_training(capsys, monkeypatch, noisy_tif: Path,
                                               tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(TrainingSession, "_step", lambda *a, **k: calls.append(1) or 0.0)
    rc, _, _ = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "out.tif", "--method",
                   "n2v", "--steps", 2, "--tile-size", 8, "--quiet", *FAST)
    assert rc == 2
    assert calls == [], "the model was trained before the bad --tile-size was noticed"


# -- nnet: noise-model outputs -------------------------------------------------------------

def test_denoise_nnet_noise_out(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    out, noise = tmp_path / "out.tif", tmp_path / "noise"
    rc, stdout, err = cli(capsys, "denoise", noisy_tif, "-o", out, "--method", "nnet",
                          "--noise-model", "gmm2", "--noise-out", noise, "--steps", 12,
                          "--json", *FAST)
    assert rc == 0, err
    summary = last_json(stdout)
    assert summary["method"] == "nnet" and summary["noise_model"] == "gmm2"
    assert sorted(p.name for p in noise.iterdir()) == ["noise_curve.csv", "noise_model.json",
                                                       "noise_std.tif"]
    denoised = tifffile.imread(out)
    std_map = tifffile.imread(noise / "noise_std.tif")
    assert std_map.shape == denoised.shape == (64, 72)
    assert np.isfinite(std_map).all() and (std_map > 0).all()
    lines = (noise / "noise_curve.csv").read_text().splitlines()
    assert lines[0] == "signal,std" and len(lines) - 1 >= 32
    curve = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    assert curve[0, 0] <= denoised.min() + 1e-3 and curve[-1, 0] >= denoised.max() - 1e-3
    assert (np.diff(curve[:, 0]) > 0).all() and (curve[:, 1] > 0).all()
    model = json.loads((noise / "noise_model.json").read_text())
    assert model["kind"] == "gmm2" and model["components"] == 2
    assert model["a"] == summary["noise_a"] and model["b"] == summary["noise_b"]
    var = model["a"] * curve[:, 0] + model["b"]
    assert np.median(np.abs(np.sqrt(np.clip(var, 0, None)) / curve[:, 1] - 1)) < 0.5
    assert [p for p in visible(tmp_path) + visible(noise) if p.startswith(".")] == []


def test_nnet_noise_out_writes_a_curve_per_channel(capsys, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    clean = np.stack([np.full((64, 72), 10.0), np.full((64, 72), 1000.0)]).astype(np.float32)
    noisy = clean + rng.normal(0, 1, clean.shape).astype(np.float32) * np.array(
        [1.0, 50.0], np.float32)[:, None, None]
    src = write_tif(tmp_path / "cyx.tif", noisy, "CYX")
    noise = tmp_path / "noise"
    rc, _stdout, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method",
                          "nnet", "--noise-out", noise, "--steps", 6, "--json", *FAST)
    assert rc == 0, err
    assert sorted(p.name for p in noise.iterdir()) == [
        "noise_curve.csv", "noise_curve_c1.csv", "noise_model.json", "noise_std.tif"]
    curves = [np.loadtxt(noise / name, delimiter=",", skiprows=1)
              for name in ("noise_curve.csv", "noise_curve_c1.csv")]
    # each curve spans its own channel's signal range (about 10 and about 1000)
    assert curves[0][:, 0].max() < 100 < 500 < curves[1][:, 0].min()
    model = json.loads((noise / "noise_model.json").read_text())
    assert [c["channel"] for c in model["channels"]] == [0, 1]
    assert model["files"]["noise_curve_c1"] == str(noise / "noise_curve_c1.csv")


def test_predict_nnet_model_noise_out(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "a.zarr", "--method",
                     "nnet", "--steps", 4, "--save-model", model, "--quiet", *FAST)
    assert rc == 0, err
    rc, stdout, err = cli(capsys, "predict", noisy_tif, "--model", model, "-o",
                          tmp_path / "b.tif", "--noise-out", tmp_path / "n", "--json")
    assert rc == 0, err
    assert last_json(stdout)["noise_model"] == "gaussian"  # the default kind
    assert tifffile.imread(tmp_path / "n" / "noise_std.tif").shape == (64, 72)


@pytest.mark.parametrize("argv", [
    ["--method", "n2v", "--noise-out", "NOISE"],
    ["--method", "n2s", "--noise-model", "gmm2"],
])
def test_noise_flags_refused_without_noise_model(capsys, noisy_tif: Path, tmp_path: Path,
                                                 argv: list[str]) -> None:
    argv = [str(tmp_path / "noise") if a == "NOISE" else a for a in argv]
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "out.tif", *argv,
                     "--steps", 2, *FAST)
    assert rc == 2
    assert err.startswith("blind-denoise: error: --noise-") and "nnet" in err
    assert len(err.splitlines()) == 1
    assert visible(tmp_path) == ["noisy.tif"]


def test_noise_out_refused_for_n2s_model(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    model = tmp_path / "model"
    assert cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "a.tif", "--method", "n2s",
               "--steps", 2, "--save-model", model, "--quiet", *FAST)[0] == 0
    rc, _, err = cli(capsys, "predict", noisy_tif, "--model", model, "-o", tmp_path / "b.tif",
                     "--noise-out", tmp_path / "n")
    assert rc == 2 and "noise outputs (nnet, bsn), not n2s" in err
    assert not (tmp_path / "b.tif").exists() and not (tmp_path / "n").exists()


def test_noise_model_choices(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["denoise", str(noisy_tif), "-o", str(tmp_path / "o.tif"), "--method", "nnet",
              "--noise-model", "gmm4"])
    assert exc.value.code == 2


# -- correlated noise: measured, reported, blind spot adapted; results checked --------------

def test_blind_spot_auto_on_scan_line_noise(capsys, tmp_path: Path) -> None:
    from napari_blind_denoise.core import add_noise
    from tests.conftest import make_blobs

    clean = make_blobs((128, 128), seed=6) * 300.0 + 50.0
    src = write_tif(tmp_path / "scan.tif", add_noise(clean, "scanline", sigma=0.1, length=3))
    rc, stdout, err = cli(capsys, "denoise", src, "-o", tmp_path / "out.tif", "--method", "n2s",
                          "--steps", 3, "--json", *FAST)
    assert rc == 0, err
    assert "noise correlated over 2 px along X" in err and "using a 3×7 blind spot" in err
    adapted = last_json(stdout)["adapted"]
    assert adapted["blind_spot"] == "3x7"
    assert adapted["noise_correlation"]["extent_x"] == 2
    assert adapted["noise_correlation"]["extent_y"] == 0


def test_blind_spot_flag(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    rc, stdout, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "a.tif", "--method",
                          "n2v", "--blind-spot", "3x1", "--steps", 2, "--json", *FAST)
    assert rc == 0, err
    assert last_json(stdout)["adapted"] == {"blind_spot": "3x1"}
    assert "blind spot" not in err  # nothing measured, nothing announced
    rc, _, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "b.tif", "--method", "n2v",
                     "--blind-spot", "4x4", "--steps", 2, *FAST)
    assert rc == 2 and "blind spot must be" in err
    assert not (tmp_path / "b.tif").exists()


def test_result_that_keeps_the_noise_is_reported(capsys, monkeypatch, noisy_tif: Path,
                                                 tmp_path: Path) -> None:
    predict_module = importlib.import_module("napari_blind_denoise.core.predict")
    monkeypatch.setattr(predict_module._Net, "__call__", lambda self, tile: tile)
    rc, stdout, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "out.tif", "--method",
                          "n2s", "--steps", 2, "--json", "--quiet", "--no-yardstick", *FAST)
    assert rc == 0, err
    assert "blind-denoise: warning: the result removed only 0% of the noise" in err
    summary = last_json(stdout)
    assert summary["removed_noise"] == pytest.approx(0.0, abs=1e-3)
    assert len(summary["warnings"]) == 1 and "larger blind spot" in summary["warnings"][0]


def test_good_result_has_no_warning(capsys, noisy_tif: Path, tmp_path: Path) -> None:
    rc, stdout, err = cli(capsys, "denoise", noisy_tif, "-o", tmp_path / "out.tif", "--method",
                          "n2s", "--steps", 60, "--json", "--no-yardstick", *FAST)
    assert rc == 0, err
    summary = last_json(stdout)
    assert summary["warnings"] == [] and summary["removed_noise"] > 0.5
    assert "warning" not in err
