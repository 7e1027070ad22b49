"""Pixel-shuffle downsampling (AP-BSN style) against the structured blind spot, measured.

The issue on correlated noise asked to measure both ways of hiding correlated neighbours and
keep the winner. Pixel-shuffle training is the package option ``MaskConfig.downsample``
(CLI ``--downsample``): every training window of ``s * P`` pixels is split into ``s**2``
sub-images of ``P`` pixels taken with stride ``s`` (neighbours in a sub-image are ``s`` pixels
apart, beyond the noise's correlation), which are masked with a one-pixel blind spot
(``n2s``: the grid; ``n2v``: a random neighbour). Prediction is asymmetric, at full resolution
(stride 1), as AP-BSN recommends. Compared at the same wall-clock budget (or the same steps)
with ``n2s`` (``blind_spot="auto"``: the measured block) and ``n2s-pixel``, on the correlated
sets of ``benchmarks/run.py`` and on W2S (independent noise):

    python benchmarks/pixel_shuffle.py --budget 120 \\
        --jsonl docs/results/2026-12-01-pixel-shuffle.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import image_names, load_pair, metrics


def variant_config(variant: str, budget: float | None, steps: int | None):
    """The configuration of ``variant`` and its inference mode (``None``: the default).

    ``pixel``/``n2v-pixel``: a one-pixel blind spot; ``auto``/``n2v``: the measured block;
    ``auto-phases``: the same model with J-invariant inference (every pixel predicted with its
    block hidden); ``pd<s>``/``n2v-pd<s>``: pixel shuffle with stride ``s`` (``pdauto``: the
    stride from the measured correlation), ``downsample=s``; ``grid<p>``: n2s with the
    measured block on a grid of period at least ``p``.
    """
    from napari_blind_denoise.core import default_config

    method = "n2v" if variant.startswith("n2v") else "n2s"
    limits = {"steps": steps} if steps else {"time_budget": budget, "steps": 10**9}
    cfg = default_config(method, "cpu", **limits)
    own = variant.removeprefix("n2v").removeprefix("-")
    if own.startswith("pd"):
        # the package sets the windows: the same pixels per step as the default (16 windows
        # of 64²): 64 // s² windows of 32·s px
        return replace(cfg, mask=replace(cfg.mask, downsample=own[2:])), None
    if own.startswith("grid"):  # n2s with the block on a sparser grid: period >= own[4:]
        return replace(cfg, mask=replace(cfg.mask, grid_period=int(own[4:]))), None
    if own == "pixel":
        return replace(cfg, mask=replace(cfg.mask, blind_spot="pixel")), None
    return cfg, ("phases" if own == "auto-phases" else None)


def run_one(kind: str, name: str, variant: str, budget: float | None,
            steps: int | None = None) -> dict:
    """Train ``variant`` (:func:`variant_config`) for ``budget`` seconds (or ``steps``
    steps) and score the full-resolution prediction."""
    from napari_blind_denoise.core import TrainingSession, predict, run_to_completion

    noisy, clean = load_pair(kind, name)
    cfg, inference = variant_config(variant, budget, steps)
    session = TrainingSession(noisy, "YX", cfg)
    trained = run_to_completion(session.run())
    t0 = time.perf_counter()
    pred = run_to_completion(predict(trained, noisy, "YX", inference=inference))
    predict_s = time.perf_counter() - t0
    psnr, ssim = metrics(kind, pred, clean)
    return {"set": kind, "image": name, "variant": variant, "psnr": round(psnr, 3),
            "ssim": round(ssim, 4), "steps": trained.info["steps"],
            "train_s": round(trained.info["train_seconds"], 1), "predict_s": round(predict_s, 2),
            "blind_spot": trained.config.mask.blind_spot,
            "downsample": trained.config.mask.downsample}


def main() -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0)
    ap.add_argument("--sets", default="hela-scan,hela-resampled,w2s")
    ap.add_argument("--variants", default="pixel,auto,pd2,pd3")
    ap.add_argument("--limit", type=int, default=1, help="images per set")
    ap.add_argument("--images", help="comma-separated image names (instead of --limit)")
    ap.add_argument("--steps", type=int, help="fixed training steps instead of --budget")
    ap.add_argument("--jsonl")
    args = ap.parse_args()
    print("| image | variant | blind spot | stride | PSNR | SSIM | steps |\n"
          "|---|---|---|---|---|---|---|")
    for kind in args.sets.split(","):
        names = image_names(kind, None if args.images else args.limit)
        if args.images:
            names = [n for n in names if n in args.images.split(",")]
        for name in names:
            for variant in args.variants.split(","):
                r = run_one(kind, name, variant, args.budget, args.steps)
                print(f"| {kind} {name} | {variant} | {r['blind_spot']} | {r['downsample']} | "
                      f"{r['psnr']:.2f} | "
                      f"{r['ssim']:.4f} | {r['steps']} |", flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
