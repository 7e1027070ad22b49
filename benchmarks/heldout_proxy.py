"""A stand-in for the held-back real pairs of issue 10: real noise, made spatially correlated.

The held-back pairs we are judged on (never seen here) are confocal images whose noise has a
lag-1 correlation of 0.05-0.26 along X and widefield images with about 0.6 along both axes;
none of ../shared/data has correlated noise. This benchmark makes the closest stand-in it
can from data we have: a W2S pair's *real* noise (the noisy frame minus its ground truth,
least-squares fitted to it: Poisson-Gaussian, signal-dependent, independent between pixels)
filtered by a unit-energy kernel that gives it a chosen lag-1 correlation, added back to the
fitted ground truth. The signal, the noise's marginal and its signal dependence are real;
only the correlation is made.

Kernels (``KERNELS``): ``x<rho>`` is ``[e, 1, e]`` along X, ``yx<rho>`` the same along both
axes (separable), with ``e`` chosen so the lag-1 autocorrelation along each filtered axis is
``rho`` (``2e / (1 + 2e^2) = rho``). Each case runs the command exactly as the issue's bar
does, in a fresh process on a float32 TIFF:

    blind-denoise denoise IN -o OUT --method n2s|n2v --time-budget 60 --seed 0 --json

(``--noise-scale`` multiplies the real noise first: the W2S frames are noisier than the
held-back pairs, whose tuned blur gains 5.7 dB on average against about 13 dB here), and
scores the output, the noisy input and the best-sigma Gaussian blur (the "tuned blur",
sigma chosen on the ground truth) by raw PSNR against the fitted ground truth, peak = its
range. Gain = PSNR - the noisy input's PSNR, as in the issue.

    python benchmarks/heldout_proxy.py --part tuning --images 004_0,068_2 \
        --cases x0.05,x0.15,x0.26,yx0.6 --methods n2s,n2v --jsonl out.jsonl
    python benchmarks/heldout_proxy.py --report out.jsonl
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
from splits import w2s_part

from napari_blind_denoise.core.metrics import fit_affine, psnr  # psnr: peak = clean's range

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "w2s_widefield_pairs"
BLUR_SIGMAS = np.geomspace(0.3, 10.0, 31)


def tap(rho: float) -> float:
    """``e`` of the kernel ``[e, 1, e]`` whose lag-1 autocorrelation is ``rho`` (< 0.71)."""
    if not 0 <= rho < 1 / np.sqrt(2):
        raise ValueError("rho must be in [0, 0.707)")
    if rho == 0:
        return 0.0
    # 2e / (1 + 2e^2) = rho  ->  2 rho e^2 - 2 e + rho = 0, the smaller root
    return float((2 - np.sqrt(4 - 8 * rho * rho)) / (4 * rho))


def kernel(case: str) -> np.ndarray:
    """The unit-energy 2-D kernel of a case name (``x0.15``, ``yx0.6``)."""
    cut = 2 if case.startswith("yx") else 1
    axes, rho = case[:cut], float(case[cut:])
    if axes not in ("x", "yx"):
        raise ValueError(f"unknown case {case!r}")
    e = tap(rho)
    row = np.array([e, 1.0, e])
    k = np.outer(row, row) if axes == "yx" else row[None, :]
    return k / np.sqrt((k * k).sum())


def lag1(noise: np.ndarray) -> tuple[float, float]:
    """Measured lag-1 correlation (Y, X) of a noise image."""
    n = noise - noise.mean()
    v = float((n * n).mean())
    return (float((n[1:] * n[:-1]).mean() / v), float((n[:, 1:] * n[:, :-1]).mean() / v))


def make_pair(name: str, case: str, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """(noisy, clean, facts): the fitted ground truth plus the pair's real noise, correlated
    and multiplied by ``scale`` (below 1: a less noisy image, as the held-back pairs are)."""
    import imageio.v3 as iio
    from scipy.ndimage import correlate

    noisy = iio.imread(DATA / "noisy" / f"{name}.png").astype(np.float64)
    gt = iio.imread(DATA / "gt" / f"{name}.png").astype(np.float64)
    clean = fit_affine(gt, noisy)
    noise = noisy - clean
    noise = noise - noise.mean()
    corr = scale * correlate(noise, kernel(case), mode="reflect")
    facts = {"noise_std": float(noise.std()), "lag1_before": lag1(noise),
             "lag1_after": lag1(corr)}
    return (clean + corr).astype(np.float32), clean.astype(np.float32), facts


def best_blur(noisy: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    from scipy.ndimage import gaussian_filter

    scores = [(psnr(gaussian_filter(noisy.astype(np.float64), s), clean), float(s))
              for s in BLUR_SIGMAS]
    return max(scores)


def run_cli(noisy: np.ndarray, method: str, budget: float,
            seed: int) -> tuple[np.ndarray, dict, float]:
    import tifffile

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.tif", Path(tmp) / "out.tif"
        tifffile.imwrite(src, noisy)
        cmd = ["blind-denoise", "denoise", str(src), "-o", str(dst), "--method", method,
               "--time-budget", str(budget), "--seed", str(seed), "--json"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        summary["stderr_tail"] = [ln for ln in proc.stderr.splitlines()
                                  if "correlat" in ln or "blend" in ln or "warn" in ln.lower()]
        return tifffile.imread(dst), summary, wall


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", default="tuning", choices=("tuning", "report"))
    p.add_argument("--images", default=None, help="comma-separated W2S names (default: the part)")
    p.add_argument("--cases", default="x0.05,x0.15,x0.26,yx0.6")
    p.add_argument("--methods", default="n2s,n2v")
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--noise-scale", type=float, default=1.0,
                   help="multiply the real noise (0.5: 6 dB less noisy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jsonl", default=None)
    p.add_argument("--report", nargs="*", default=None, help="print the table of saved runs")
    args = p.parse_args()
    if args.report is not None:
        rows = []
        for path in args.report:
            rows += [json.loads(ln) for ln in Path(path).read_text().splitlines() if ln.strip()]
        print(table(rows))
        return 0
    names = sorted(q.stem for q in (DATA / "noisy").glob("*.png"))
    names = args.images.split(",") if args.images else w2s_part(names, args.part)
    rows = []
    for name in names:
        for case in args.cases.split(","):
            noisy, clean, facts = make_pair(name, case, args.noise_scale)
            base = {"image": name, "case": case, "part": args.part, **facts,
                    "noise_scale": args.noise_scale, "budget": args.budget,
                    "psnr_noisy": psnr(noisy, clean)}
            blur_psnr, blur_sigma = best_blur(noisy, clean)
            base.update(psnr_blur=blur_psnr, blur_sigma=blur_sigma)
            for method in args.methods.split(","):
                out, summary, wall = run_cli(noisy, method, args.budget, args.seed)
                keep = {k: summary[k] for k in ("steps", "adapted", "blend", "tta",
                                                "removed_noise", "warnings") if k in summary}
                row = {**base, "method": method, "psnr": psnr(out, clean), "wall_s": wall,
                       "summary": keep, "stderr": summary["stderr_tail"]}
                row["gain"] = row["psnr"] - row["psnr_noisy"]
                row["blur_gain"] = blur_psnr - row["psnr_noisy"]
                rows.append(row)
                print(f"{name} {case} {method}: {row['psnr']:.2f} dB (noisy "
                      f"{row['psnr_noisy']:.2f}, blur {blur_psnr:.2f} at σ {blur_sigma:.2f}) "
                      f"gain {row['gain']:+.2f} vs blur {row['blur_gain']:+.2f}", flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print(table(rows))
    return 0


def table(rows: list[dict]) -> str:
    lines = ["| image | case | lag-1 (Y, X) | method | noisy | result | tuned blur | gain "
             "| blur gain |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ly, lx = r["lag1_after"]
        lines.append(f"| {r['image']} | {r['case']} | {ly:.2f}, {lx:.2f} | {r['method']} | "
                     f"{r['psnr_noisy']:.2f} | {r['psnr']:.2f} | {r['psnr_blur']:.2f} | "
                     f"{r['gain']:+.2f} | {r['blur_gain']:+.2f} |")
    for method in sorted({r["method"] for r in rows}):
        sel = [r for r in rows if r["method"] == method]
        gains = [r["gain"] for r in sel]
        blur = [r["blur_gain"] for r in sel]
        lines.append(f"\n{method}: mean gain {np.mean(gains):+.2f} dB (min {min(gains):+.2f}) "
                     f"over {len(sel)} cases; tuned blur {np.mean(blur):+.2f} dB")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
