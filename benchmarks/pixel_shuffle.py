"""Pixel-shuffle downsampling (AP-BSN style) against the structured blind spot, measured.

The issue on correlated noise asked to measure both ways of hiding correlated neighbours and
keep the winner. This script adds pixel-shuffle training as a method *of this script only*,
through the method interface (``core.methods``; nothing in the package is changed): every
training window of ``s * P`` pixels is split into ``s**2`` sub-images of ``P`` pixels taken
with stride ``s`` (neighbours in a sub-image are ``s`` pixels apart, beyond the noise's
correlation), which are grid-masked with a one-pixel blind spot as in Noise2Self. Prediction is
asymmetric, at full resolution (stride 1), as AP-BSN recommends. Compared at the same
wall-clock budget with ``n2s`` (``blind_spot="auto"``: the measured block) and ``n2s-pixel``,
on the correlated sets of ``benchmarks/run.py`` and on W2S (independent noise):

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

import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import image_names, load_pair, metrics

from napari_blind_denoise.core.masking import GridMasker
from napari_blind_denoise.core.methods import Batch, Noise2Self


class PixelShuffleN2S(Noise2Self):
    """Noise2Self on stride-``s`` sub-images of every training window (this script only)."""

    stride = 3

    def __init__(self, stride: int) -> None:
        self.stride = stride
        self.id = f"n2s-pd{stride}"  # type: ignore[misc]

    def adapt(self, config, data, layout):
        return replace(config, mask=replace(config.mask, blind_spot="pixel")), {}

    def batch_maker(self, config):
        masker, s = GridMasker(config.mask.grid_period), self.stride

        def make(sources, generator):
            x = sources[0]
            b, c, h, w = x.shape
            sub = F.pixel_unshuffle(x, s).reshape(b, c, s * s, h // s, w // s)
            sub = sub.transpose(1, 2).reshape(b * s * s, c, h // s, w // s).contiguous()
            masked = masker(sub, generator)
            return Batch(masked.input, sub, masked.mask)

        return make


def run_one(kind: str, name: str, variant: str, budget: float | None,
            steps: int | None = None) -> dict:
    """Train ``variant`` for ``budget`` seconds (or ``steps`` steps) and score the
    full-resolution prediction.

    Variants: ``pixel``, ``auto`` (the measured block, one plain pass at inference),
    ``auto-phases`` (the same model, J-invariant inference: every pixel predicted with its
    block hidden), ``n2v``/``n2v-pixel``, ``pd<s>`` (pixel shuffle with stride ``s``).
    """
    from napari_blind_denoise.core import (
        TrainingSession,
        default_config,
        predict,
        register,
        run_to_completion,
        unregister,
    )

    noisy, clean = load_pair(kind, name)
    method_id = "n2v" if variant.startswith("n2v") else "n2s"
    limits = {"steps": steps} if steps else {"time_budget": budget, "steps": 10**9}
    cfg = default_config(method_id, "cpu", **limits)
    inference = None
    if variant.startswith("pd"):
        stride = int(variant[2:])
        method = PixelShuffleN2S(stride)
        method_id = method.id
        register(method)
        # the same pixels per step as the default (16 windows of 64²): fewer, larger windows
        cfg = replace(cfg, method=method_id,
                      train=replace(cfg.train, patch_size=32 * stride,
                                    batch_size=max(1, 64 // (stride * stride))))
    elif variant.endswith("pixel"):
        cfg = replace(cfg, mask=replace(cfg.mask, blind_spot="pixel"))
    elif variant == "auto-phases":
        inference = "phases"
    try:
        session = TrainingSession(noisy, "YX", cfg)
        trained = run_to_completion(session.run())
        t0 = time.perf_counter()
        pred = run_to_completion(predict(trained, noisy, "YX", inference=inference))
        predict_s = time.perf_counter() - t0
    finally:
        if method_id not in ("n2s", "n2v"):
            unregister(method_id)
    psnr, ssim = metrics(kind, pred, clean)
    return {"set": kind, "image": name, "variant": variant, "psnr": round(psnr, 3),
            "ssim": round(ssim, 4), "steps": trained.info["steps"],
            "train_s": round(trained.info["train_seconds"], 1), "predict_s": round(predict_s, 2),
            "blind_spot": trained.config.mask.blind_spot}


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
    print("| image | variant | blind spot | PSNR | SSIM | steps |\n|---|---|---|---|---|---|")
    for kind in args.sets.split(","):
        names = image_names(kind, None if args.images else args.limit)
        if args.images:
            names = [n for n in names if n in args.images.split(",")]
        for name in names:
            for variant in args.variants.split(","):
                r = run_one(kind, name, variant, args.budget, args.steps)
                print(f"| {kind} {name} | {variant} | {r['blind_spot']} | {r['psnr']:.2f} | "
                      f"{r['ssim']:.4f} | {r['steps']} |", flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
