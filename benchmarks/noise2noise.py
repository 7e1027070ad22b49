"""Noise2Noise (``n2n``) against Noise2Self and Noise2Void at an equal, fixed step count.

Each clean image gets two independent Poisson-Gaussian realisations (``core.noise.synthetic``
``add_noise``: ``--peak`` photons at the image maximum, Gaussian read noise of ``--sigma`` of
the range), each with its own fixed seed. ``n2n`` trains on the pair (A -> B and B -> A),
``n2s`` and ``n2v`` on A alone; all three denoise A and are scored raw against the clean
image (PSNR/SSIM with the clean image's range as peak). Same preset (``cpu``), steps and
training seed for every method. Clean images: the three channels of
``fiji_hela_cells_clean`` and StarDist ``img2d`` (``../shared/data``).

Run from the repository root; one JSON line per (image, method) goes to ``--out`` and a
markdown table of means to stdout:

    python benchmarks/noise2noise.py --steps 1500 --out docs/results/<date>-noise2noise.jsonl
    python benchmarks/noise2noise.py --steps 5 --images nuclei --size 128      # smoke check
    python benchmarks/noise2noise.py --report docs/results/<date>-noise2noise.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
IMAGES = ("hela0", "hela1", "hela2", "nuclei")
METHODS = ("n2n", "n2s", "n2v")


def clean_image(name: str, size: int | None) -> np.ndarray:
    """A clean float32 image: ``hela<c>`` (channel c of the HeLa stack) or ``nuclei``;
    centre-cropped to ``size`` when given."""
    import tifffile

    if name.startswith("hela"):
        stack = tifffile.imread(DATA / "fiji_hela_cells_clean" / "hela_cells_CYX.tif")
        img = stack[int(name[-1])]
    else:
        img = tifffile.imread(DATA / "stardist_nuclei_clean" / "img2d.tif")
    img = np.asarray(img, np.float32)
    if size:
        y0, x0 = max(0, (img.shape[0] - size) // 2), max(0, (img.shape[1] - size) // 2)
        img = img[y0:y0 + size, x0:x0 + size]
    return img


def realisations(clean: np.ndarray, seed: int, peak: float, sigma: float):
    """Two independent Poisson-Gaussian noisy copies, seeds ``seed`` and ``seed + 1``."""
    from napari_blind_denoise.core import add_noise

    return tuple(add_noise(clean, "poisson-gaussian", seed=s, peak=peak, sigma=sigma)
                 for s in (seed, seed + 1))


def run_one(name: str, method: str, args) -> dict:
    """Train ``method`` on image ``name`` and score its denoising of realisation A."""
    from napari_blind_denoise.core import default_config, predict, run_to_completion, train
    from napari_blind_denoise.core.metrics import score

    clean = clean_image(name, args.size)
    seed = 1000 + 10 * IMAGES.index(name)  # a fixed seed per image and realisation
    a, b = realisations(clean, seed, args.peak, args.sigma)
    config = default_config(method, "cpu", steps=args.steps, seed=args.train_seed)
    t0 = time.perf_counter()
    trained = run_to_completion(train((a, b) if method == "n2n" else a, "YX", config,
                                      device="cpu"))
    train_s = time.perf_counter() - t0
    pred = run_to_completion(predict(trained, a, "YX", device="cpu"))
    rng = float(clean.max() - clean.min())
    before, after = score(a, clean, rng), score(pred, clean, rng)
    return {"image": name, "method": method, "steps": trained.info["steps"],
            "best_step": trained.info["best_step"], "train_seconds": round(train_s, 2),
            "peak": args.peak, "sigma": args.sigma, "size": list(clean.shape),
            "input_psnr": round(before["psnr"], 3), "psnr": round(after["psnr"], 3),
            "ssim": round(after["ssim"], 4), "noise_seeds": [seed, seed + 1],
            "train_seed": args.train_seed}


def report(rows: list[dict]) -> str:
    """Markdown table: per method, mean input PSNR, PSNR, SSIM and train seconds."""
    lines = ["| method | images | input PSNR | PSNR | SSIM | train s |",
             "|---|---|---|---|---|---|"]
    for method in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == method]
        mean = {k: float(np.mean([r[k] for r in rs]))
                for k in ("input_psnr", "psnr", "ssim", "train_seconds")}
        lines.append(f"| {method} | {len(rs)} | {mean['input_psnr']:.2f} | {mean['psnr']:.2f} "
                     f"| {mean['ssim']:.4f} | {mean['train_seconds']:.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps for every method")
    p.add_argument("--images", default=",".join(IMAGES), help=f"from {','.join(IMAGES)}")
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--peak", type=float, default=30.0, help="photons at the image maximum")
    p.add_argument("--sigma", type=float, default=0.02, help="read noise, share of the range")
    p.add_argument("--size", type=int, default=None, help="centre crop edge (default: whole)")
    p.add_argument("--train-seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="append one JSON line per run here")
    p.add_argument("--report", nargs="+", type=Path, help="only print the table of these")
    args = p.parse_args(argv)
    if args.report:
        rows = [json.loads(ln) for f in args.report for ln in f.read_text().splitlines() if ln]
        print(report(rows))
        return 0
    rows = []
    for name in args.images.split(","):
        for method in args.methods.split(","):
            row = run_one(name, method, args)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if args.out:
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print(report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
