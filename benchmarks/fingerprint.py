"""Behaviour fingerprint of the core and the CLI, to prove a refactor changed nothing.

Trains every method for a fixed number of steps with a fixed seed on a 256x256 crop of the
embedded sample, predicts, and records for each output its shape, PSNR against the clean
crop and the sha256 of its float32 bytes (the arrays are saved as ``.npy`` too). It uses only
public entry points that survive refactors: ``napari_blind_denoise.core`` (``default_config``,
``train``, ``predict``, ``run_to_completion``, ``TileConfig``, ``psnr``, ``noise_curve``,
``save_model``, ``load_model``), ``napari_blind_denoise.sample_data.load_sample`` and the
``blind-denoise denoise`` command, run as a subprocess.

Cases: ``n2v``, ``n2s``, ``nnet-gaussian`` and ``nnet-gmm2`` through the Python API (unmasked
prediction; grid-phase prediction for ``n2s`` and ``nnet``; the noise curve for ``nnet``),
and ``n2v`` and ``nnet-gmm2`` (with ``--noise-out``) through the CLI. About 5 minutes on
2 CPU cores.

``DIR/fingerprint.json`` holds only deterministic content, so two runs of the same code are
bit-identical files (``cmp``); timings and paths go to ``DIR/run_info.json``. Run::

    python benchmarks/fingerprint.py --out /tmp/fp-before --save-models
    python benchmarks/fingerprint.py --out /tmp/fp-after --check-models /tmp/fp-before
    cmp /tmp/fp-before/fingerprint.json /tmp/fp-after/fingerprint.json

``--save-models`` also writes every trained model folder to ``DIR/models/<case>``;
``--check-models OLD`` loads the model folders in ``OLD/models`` (or in ``OLD`` itself),
predicts with them and fingerprints the outputs under ``checked_models`` (compare that
section only with a run that checked the same folders). To fingerprint an exported tree
instead of the installed package, put its ``src`` first: ``PYTHONPATH=/tmp/before/src``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from napari_blind_denoise.core import (
    TileConfig,
    default_config,
    load_model,
    noise_curve,
    predict,
    psnr,
    run_to_completion,
    save_model,
    train,
)
from napari_blind_denoise.sample_data import load_sample

STEPS = 150
SEED = 0
CROP = (slice(128, 384), slice(128, 384))
TILE = TileConfig(tile_size=128, overlap=16)
CURVE_POINTS = 16
# case name -> (method, noise model kind or None)
API_CASES = {
    "n2v": ("n2v", None),
    "n2s": ("n2s", None),
    "nnet-gaussian": ("nnet", "gaussian"),
    "nnet-gmm2": ("nnet", "gmm2"),
}
CLI_CASES = {"n2v": ("n2v", None), "nnet-gmm2": ("nnet", "gmm2")}
PHASES_METHODS = ("n2s", "nnet")
NOISE_FILES = ("noise_std.tif", "noise_curve.csv", "noise_model.json")


def sha256_array(arr) -> str:
    """sha256 of the array's C-ordered float32 bytes."""
    return hashlib.sha256(np.ascontiguousarray(arr, np.float32).tobytes()).hexdigest()


def sha256_file(path: Path) -> str:
    """sha256 of a file's contents."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Recorder:
    """Saves arrays as ``.npy`` and builds their fingerprint records."""

    def __init__(self, out_dir: Path, clean: np.ndarray) -> None:
        self.out_dir = out_dir
        self.clean = clean

    def array(self, name: str, arr, *, score: bool = True) -> dict:
        """Record ``arr`` (float32) as ``name``; PSNR against the clean crop if ``score``."""
        arr = np.asarray(arr, np.float32)
        np.save(self.out_dir / f"{name}.npy", arr)
        return {"shape": list(arr.shape),
                "psnr": float(psnr(arr, self.clean)) if score else None,
                "sha256": sha256_array(arr), "npy": f"{name}.npy"}

    def curve(self, name: str, trained) -> dict:
        """Record ``noise_curve(trained, CURVE_POINTS)``: both arrays and their values."""
        signal, std = noise_curve(trained, CURVE_POINTS)
        return {"signal": self.array(f"{name}-curve_signal", signal, score=False),
                "std": self.array(f"{name}-curve_std", std, score=False),
                "signal_values": [float(v) for v in signal],
                "std_values": [float(v) for v in std]}


def model_info(info: dict) -> dict:
    """The deterministic part of a trained model's ``info``."""
    return {"steps": info["steps"], "best_step": info["best_step"]}


def fingerprint_model(rec: Recorder, name: str, trained, data: np.ndarray) -> dict:
    """Predictions (unmasked, and grid phases for N2S-masked methods) and the noise curve."""
    outputs = {"predict": rec.array(f"{name}-predict", run_to_completion(
        predict(trained, data, "YX", tile=TILE, device="cpu")))}
    if trained.method in PHASES_METHODS:
        outputs["phases"] = rec.array(f"{name}-phases", run_to_completion(
            predict(trained, data, "YX", tile=TILE, device="cpu", inference="phases")))
    entry = {"info": model_info(trained.info), "outputs": outputs}
    if trained.method == "nnet":
        entry["noise_curve"] = rec.curve(name, trained)
    return entry


def api_case(rec: Recorder, name: str, data: np.ndarray, models_dir: Path | None) -> dict:
    """Train one Python-API case, optionally save its model, fingerprint it."""
    method, kind = API_CASES[name]
    extra = {"noise_model": kind} if kind is not None else {}
    config = default_config(method, "cpu", steps=STEPS, seed=SEED, **extra)
    trained = run_to_completion(train(data, "YX", config, device="cpu"))
    if models_dir is not None:
        save_model(trained, models_dir / name)
    return fingerprint_model(rec, f"api-{name}", trained, data)


def _run_cli(args: list[str], cwd: Path) -> dict:
    cmd = [sys.executable, "-m", "napari_blind_denoise.cli", "denoise", *args]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _noise_files(rec: Recorder, name: str, folder: Path) -> dict:
    """Hashes of the ``--noise-out`` files, the std map, the JSON keys and a/b values."""
    import tifffile

    summary = json.loads((folder / "noise_model.json").read_text())
    return {
        "sha256": {f: sha256_file(folder / f) for f in NOISE_FILES},
        "noise_std": rec.array(f"{name}-noise_std", tifffile.imread(folder / "noise_std.tif"),
                               score=False),
        "json_keys": sorted(summary),
        "a": summary["a"], "b": summary["b"],
        "channels": [{"a": c["a"], "b": c["b"]} for c in summary["channels"]],
    }


def cli_case(rec: Recorder, name: str, data: np.ndarray) -> dict:
    """Run one CLI case in its own folder (relative paths, so file contents do not depend
    on ``--out``) and fingerprint its output files."""
    import tifffile

    method, kind = CLI_CASES[name]
    work = rec.out_dir / "cli" / name
    work.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(work / "noisy.tif", data)
    args = ["noisy.tif", "-o", "denoised.tif", "--method", method, "--steps", str(STEPS),
            "--json", "--quiet", "--seed", str(SEED), "--device", "cpu"]
    if kind is not None:
        args += ["--noise-model", kind, "--noise-out", "noise"]
    summary = _run_cli(args, work)
    tag = f"cli-{name}"
    entry = {"info": model_info(summary),
             "outputs": {"denoised": rec.array(f"{tag}-denoised",
                                               tifffile.imread(work / "denoised.tif"))}}
    if kind is not None:
        entry["noise_files"] = _noise_files(rec, tag, work / "noise")
    return entry


def model_folders(root: Path) -> list[Path]:
    """Model folders (holding ``config.json``) in ``root/models``, else in ``root``."""
    base = root / "models" if (root / "models").is_dir() else root
    found = sorted(p for p in base.iterdir() if (p / "config.json").is_file())
    if not found:
        raise SystemExit(f"no model folders in {base}")
    return found


def check_models(rec: Recorder, root: Path, data: np.ndarray, cases: dict) -> dict:
    """Load each saved model, predict and fingerprint; note whether it matches this run's
    case of the same name (it must when both come from the same code)."""
    checked = {}
    for folder in model_folders(root):
        entry = fingerprint_model(rec, f"loaded-{folder.name}", load_model(folder, "cpu"),
                                  data)
        same = cases.get(folder.name)
        if same is not None:
            entry["matches_case"] = all(
                out["sha256"] == same["outputs"][k]["sha256"]
                for k, out in entry["outputs"].items())
        checked[folder.name] = entry
    return checked


def _timed(timings: dict, key: str, fn, *args):
    t0 = time.perf_counter()
    result = fn(*args)
    timings[key] = round(time.perf_counter() - t0, 1)
    print(f"  {key}: {timings[key]:.1f} s", file=sys.stderr, flush=True)
    return result


def table(fp: dict) -> str:
    """The fingerprint as a readable table."""
    lines = [f"{'section':8s} {'case':14s} {'output':14s} {'shape':>9s} {'PSNR':>7s} "
             f"{'steps':>5s} {'best':>4s}  sha256"]
    for section in ("input", "cases", "cli", "checked_models"):
        for case, entry in _entries(fp, section):
            info = entry.get("info", {})
            for out, r in entry["outputs"].items():
                shape = "x".join(map(str, r["shape"]))
                p = "-" if r["psnr"] is None else f"{r['psnr']:.3f}"
                lines.append(f"{section[:8]:8s} {case:14s} {out:14s} {shape:>9s} {p:>7s} "
                             f"{info.get('steps', '-')!s:>5s} {info.get('best_step', '-')!s:>4s}"
                             f"  {r['sha256'][:16]}")
    return "\n".join(lines)


def _entries(fp: dict, section: str):
    if section == "input":
        return [("sample", {"outputs": {"noisy": fp["input"]}})]
    return list(fp.get(section, {}).items())


def run(args: argparse.Namespace) -> dict:
    """Every case; returns the fingerprint (also written to ``--out``)."""
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    noisy, clean = load_sample()
    data = np.ascontiguousarray(noisy[CROP])
    rec = Recorder(out_dir, np.ascontiguousarray(clean[CROP], np.float32))
    models_dir = out_dir / "models" if args.save_models else None
    timings: dict[str, float] = {}
    fp = {"settings": {"steps": STEPS, "seed": SEED, "crop": [[s.start, s.stop] for s in CROP],
                       "tile_size": TILE.tile_size, "overlap": TILE.overlap,
                       "curve_points": CURVE_POINTS},
          "input": rec.array("input-noisy", data)}
    fp["cases"] = {n: _timed(timings, f"api {n}", api_case, rec, n, data, models_dir)
                   for n in API_CASES}
    fp["cli"] = {n: _timed(timings, f"cli {n}", cli_case, rec, n, data) for n in CLI_CASES}
    if args.check_models:
        fp["checked_models"] = _timed(timings, "check models", check_models, rec,
                                      Path(args.check_models), data, fp["cases"])
    fp["environment"] = {"python": platform.python_version(), "numpy": np.__version__,
                         "torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    (out_dir / "fingerprint.json").write_text(json.dumps(fp, indent=2, sort_keys=True) + "\n")
    _write_run_info(out_dir, args, timings)
    return fp


def _write_run_info(out_dir: Path, args: argparse.Namespace, timings: dict) -> None:
    import napari_blind_denoise

    probe = subprocess.run([sys.executable, "-c", "import napari_blind_denoise as p; "
                            "print(p.__file__)"], capture_output=True, text=True, check=True,
                           cwd=out_dir)
    info = {"argv": sys.argv, "package": napari_blind_denoise.__file__,
            "cli_package": probe.stdout.strip(), "cwd": os.getcwd(),
            "seconds": timings, "total_seconds": round(sum(timings.values()), 1),
            "check_models": args.check_models}
    (out_dir / "run_info.json").write_text(json.dumps(info, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for fingerprint.json, run_info.json, the .npy arrays, models")
    p.add_argument("--save-models", action="store_true",
                   help="also save each trained Python-API model to DIR/models/<case>")
    p.add_argument("--check-models", metavar="DIR",
                   help="load the model folders in DIR/models (or DIR) and fingerprint them")
    args = p.parse_args(argv)
    fp = run(args)
    print(table(fp))
    print(f"\nwrote {Path(args.out) / 'fingerprint.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
