"""How well ``nnet``'s exported noise curve matches the true noise, through the CLI.

Each case puts synthetic noise of known statistics on a clean image (in the units a
microscope would write: float, or uint16 camera counts with an offset), runs exactly

    blind-denoise denoise noisy.tif -o den.tif --method nnet --noise-model K --noise-out DIR

and scores ``DIR/noise_curve.csv`` as the issue does: 20 bins over the clean image's range,
bins holding at least 1 % of the pixels, the curve interpolated at each bin's mean clean
value against the RMS theoretical std of its pixels; the median relative error is reported.
The clean images here were not used to tune the method (the tests use StarDist 2-D nuclei).
Run from the repository root (needs ../shared/data):

    python benchmarks/nnet_noise_curve.py                     # default CLI budget, all cases
    python benchmarks/nnet_noise_curve.py --time-budget 60 --cases pg-camera,speckle
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _hela(channel: int) -> np.ndarray:
    import tifffile

    return tifffile.imread(DATA / "fiji_hela_cells_clean" / "hela_cells_CYX.tif")[channel]


def _w2s_gt() -> np.ndarray:
    import imageio.v3 as iio

    names = sorted((DATA / "w2s_widefield_pairs" / "gt").glob("*.png"))
    return iio.imread(names[len(names) // 2])


def _smooth(img: np.ndarray) -> np.ndarray:
    """A light blur: the "clean" files carry a little noise of their own."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img.astype(np.float64), 1.0)


def case(name: str, rng: np.random.Generator):
    """``(noisy, axes, clean signal, theoretical std per pixel, noise model kind)``."""
    if name == "gaussian-float":  # HeLa mitochondria, 12-bit range, additive sigma 150
        x = _smooth(_hela(1))
        std = np.full_like(x, 150.0)
        y = x + rng.normal(0, 150.0, x.shape)
        return y.astype(np.float32), "YX", x, std, "gaussian"
    if name == "pg-camera":  # sCMOS-like: gain 2.2 ADU/e-, offset 100, read noise 3 ADU
        x = _smooth(_hela(0))
        photons = x / x.max() * 60.0
        gain, offset, read = 2.2, 100.0, 3.0
        y = gain * rng.poisson(photons) + offset + rng.normal(0, read, x.shape)
        signal = gain * photons + offset
        std = np.sqrt(gain * gain * photons + read * read)
        return np.clip(y, 0, 65535).round().astype(np.uint16), "YX", signal, std, "gmm3"
    if name == "speckle":  # multiplicative, sigma 0.25, on a W2S 400-frame average
        x = _smooth(_w2s_gt())
        y = x * (1 + 0.25 * rng.standard_normal(x.shape))
        return y.astype(np.float32), "YX", x, 0.25 * x, "gmm3"
    if name == "poisson-low":  # photon counting, peak 5 photons
        x = _smooth(_hela(2))
        lam = x / x.max() * 5.0
        return rng.poisson(lam).astype(np.float32), "YX", lam, np.sqrt(lam), "gmm3"
    if name == "pg-3d":  # StarDist 3-D nuclei, peak 40 photons, read noise 2 % of range
        import tifffile

        x = _smooth(tifffile.imread(DATA / "stardist_nuclei_clean" / "img3d.tif"))
        x = x / x.max()
        lam = x * 40.0
        y = (rng.poisson(lam) + rng.normal(0, 0.8, x.shape)) / 40.0
        std = np.sqrt(lam + 0.64) / 40.0
        return y.astype(np.float32), "ZYX", x, std, "gmm3"
    return _textured_case(name, rng)


def _textured_case(name: str, rng: np.random.Generator):
    """Harder cases: fine texture, where the D-net's own error is largest."""
    import imageio.v3 as iio

    if name == "gaussian-texture":  # a BSD68 natural image (8-bit range), additive sigma 15
        x = iio.imread(DATA / "bsd68_gray" / "test003.png").astype(np.float64)
        y = x + rng.normal(0, 15.0, x.shape)
        return y.astype(np.float32), "YX", x, np.full_like(x, 15.0), "gaussian"
    if name == "pg-w2s":  # camera counts on a W2S average: gain 1.5, offset 200, read 4 ADU
        x = _smooth(_w2s_gt())
        photons = x / x.max() * 30.0
        gain, offset, read = 1.5, 200.0, 4.0
        y = gain * rng.poisson(photons) + offset + rng.normal(0, read, x.shape)
        std = np.sqrt(gain * gain * photons + read * read)
        return (np.clip(y, 0, 65535).round().astype(np.uint16), "YX", gain * photons + offset,
                std, "gmm3")
    if name == "gaussian-low":  # HeLa mitochondria, additive sigma 30 (high SNR)
        x = _smooth(_hela(1))
        y = x + rng.normal(0, 30.0, x.shape)
        return y.astype(np.float32), "YX", x, np.full_like(x, 30.0), "gaussian"
    if name == "pg-bright":  # HeLa nuclei, 600 photons peak, gain 1, offset 100, read 5 ADU
        x = _smooth(_hela(2))
        photons = x / x.max() * 600.0
        y = rng.poisson(photons) + 100.0 + rng.normal(0, 5.0, x.shape)
        std = np.sqrt(photons + 25.0)
        return (np.clip(y, 0, 65535).round().astype(np.uint16), "YX", photons + 100.0, std,
                "gmm3")
    raise SystemExit(f"unknown case {name}")


CASES = ["gaussian-float", "pg-camera", "speckle", "poisson-low", "pg-3d", "gaussian-texture",
         "pg-w2s", "gaussian-low", "pg-bright"]


def score(curve_csv: Path, signal: np.ndarray, std: np.ndarray) -> tuple[float, list]:
    """Median relative error of the curve and ``(signal, expected, got)`` per scored bin."""
    table = np.loadtxt(curve_csv, delimiter=",", skiprows=1, ndmin=2)
    s = signal.ravel()
    edges = np.linspace(s.min(), s.max(), 21)
    which = np.digitize(s, edges[1:-1])
    errors, detail = [], []
    for b in range(20):
        sel = which == b
        if sel.sum() < 0.01 * s.size:
            continue
        expected = float(np.sqrt(np.mean(std.ravel()[sel] ** 2)))
        got = float(np.interp(s[sel].mean(), table[:, 0], table[:, 1]))
        errors.append(abs(got - expected) / expected)
        detail.append([round(float(s[sel].mean()), 4), round(expected, 4), round(got, 4)])
    return float(np.median(errors)), detail


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--time-budget", type=float, help="passed to the CLI (default: its own)")
    p.add_argument("--steps", type=int, help="passed to the CLI (default: its own)")
    p.add_argument("--noise-model", help="override each case's noise model kind")
    p.add_argument("--jsonl", help="append one JSON line per case here")
    args = p.parse_args()
    import tifffile

    rows = []
    for name in args.cases.split(","):
        noisy, axes, signal, std, kind = case(name, np.random.default_rng(7))
        kind = args.noise_model or kind
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            tifffile.imwrite(tmp / "noisy.tif", noisy)
            cmd = [sys.executable, "-m", "napari_blind_denoise.cli", "denoise",
                   str(tmp / "noisy.tif"), "-o", str(tmp / "den.tif"), "--axes", axes,
                   "--method", "nnet", "--noise-model", kind, "--noise-out",
                   str(tmp / "noise"), "--json", "--quiet"]
            if args.time_budget:
                cmd += ["--time-budget", str(args.time_budget)]
            if args.steps:
                cmd += ["--steps", str(args.steps)]
            t0 = time.perf_counter()
            run = subprocess.run(cmd, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            if run.returncode:
                print(f"{name}: CLI failed: {run.stderr.strip()[-400:]}", file=sys.stderr)
                continue
            err, detail = score(tmp / "noise" / "noise_curve.csv", signal, std)
            summary = json.loads(run.stdout.strip().splitlines()[-1])
            model = json.loads((tmp / "noise" / "noise_model.json").read_text())
            std_map = tifffile.imread(tmp / "noise" / "noise_std.tif")
            map_err = float(np.median(np.abs(std_map - std) / std))
        row = {"case": name, "kind": kind, "shape": list(noisy.shape),
               "dtype": str(noisy.dtype), "median_rel_err": round(err, 4), "bins": len(detail),
               "std_map_median_rel_err": round(map_err, 4),
               "a": model["channels"][0]["a"], "b": model["channels"][0]["b"],
               "steps": summary.get("steps"), "seconds": round(seconds, 1),
               "per_bin": detail}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(row) + "\n")
    print("\n| case | noise model | shape | curve median rel. error | bins | std-map median "
          "rel. error | steps | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['kind']} | {'x'.join(map(str, r['shape']))} "
              f"{r['dtype']} | {r['median_rel_err']:.1%} | {r['bins']} | "
              f"{r['std_map_median_rel_err']:.1%} | {r['steps']} | {r['seconds']:.0f} |")


if __name__ == "__main__":
    main()
