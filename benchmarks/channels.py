"""Channels: one model over the channels (``joint``) against one per channel (``separate``),
at the same total training budget (``ModelConfig.channels``, docs/methods.md "Channels").

Image: the Fiji "HeLa cells" sample, 3 channels, ``../shared/data/fiji_hela_cells_clean``
(high SNR, used as clean). Synthetic noise on every channel with its own seed and range
(``core.noise.synthetic.add_noise``): ``poisson-gaussian`` (each channel rescaled to a peak of
``PEAK`` photons, Poisson-sampled, plus Gaussian read noise of ``READ_SIGMA`` times its range)
and ``gaussian`` (``SIGMA`` times the channel's range). The image is cut in two halves along
X: the *tuning* part (x < 336) is the only one the default was chosen on, the *report* part
(x >= 336) the one docs report.

Each run: the CPU preset of ``n2v``, ``n2s`` or ``nnet`` (blend and test-time augmentation as
the CLI does them), ``--steps`` optimiser steps in all (``joint``: one model, ``steps``;
``separate``: 3 models, ``ceil(steps / 3)`` each), seed 0, through the pipeline
(``run_pipeline``, as the CLI). PSNR per channel against the clean channel (peak: the clean
channel's range). One JSON line per run.

Run from the repository root, on a shared machine under the CPU lock (about 1 min per run at
600 steps on 2 cores)::

    flock /tmp/cpu.lock python benchmarks/channels.py --part tuning --noise poisson-gaussian \\
        --jsonl docs/results/2026-12-03-channels-tuning.jsonl
    flock /tmp/cpu.lock python benchmarks/channels.py --part report \\
        --jsonl docs/results/2026-12-03-channels-report.jsonl
    python benchmarks/channels.py --summary docs/results/2026-12-03-channels-report.jsonl
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

DATA = (Path(__file__).resolve().parents[1].parent / "shared" / "data"
        / "fiji_hela_cells_clean" / "hela_cells_CYX.tif")
PARTS = {"tuning": slice(0, 336), "report": slice(336, 672)}
NOISES = ("poisson-gaussian", "gaussian")
METHODS = ("n2v", "n2s", "nnet")
MODES = ("joint", "separate")
STEPS = 600  # about the widget's default 60-s time limit on this 2-core CPU
PEAK, READ_SIGMA = 30.0, 0.02  # photons at each channel's brightest pixel; read noise
SIGMA = 0.08  # Gaussian noise std, fraction of each channel's range


def load(part: str, noise: str) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy, clean)`` float32 ``CYX`` crops of ``part``: noise added to each whole
    channel (seed 100 + channel index for ``poisson-gaussian``, 200 + index for
    ``gaussian``), then cropped."""
    import tifffile

    from napari_blind_denoise.core import add_noise

    clean = tifffile.imread(DATA).astype(np.float32)
    if noise == "poisson-gaussian":
        noisy = [add_noise(ch, noise, seed=100 + c, peak=PEAK, sigma=READ_SIGMA)
                 for c, ch in enumerate(clean)]
    else:
        noisy = [add_noise(ch, noise, seed=200 + c, sigma=SIGMA) for c, ch in enumerate(clean)]
    cut = PARTS[part]
    return np.stack(noisy)[..., cut].copy(), clean[..., cut].copy()


def channel_psnr(image: np.ndarray, clean: np.ndarray) -> list[float]:
    """PSNR (dB) of each channel against its clean channel, 0.01 dB."""
    from napari_blind_denoise.core import psnr

    return [round(float(psnr(a, b)), 2) for a, b in zip(image, clean, strict=True)]


def one(noisy: np.ndarray, clean: np.ndarray, method: str, mode: str, steps: int) -> dict:
    """Train and denoise once as the CLI does; the run's JSON record."""
    from napari_blind_denoise.core import TileConfig, default_config, run_to_completion
    from napari_blind_denoise.core.pipeline import run_pipeline
    from napari_blind_denoise.core.separate import session_for

    config = default_config(method, "cpu", steps=steps, seed=0)
    config = replace(config, model=replace(config.model, channels=mode))
    t0 = time.perf_counter()
    session = session_for(noisy, "CYX", config, device="cpu")
    result = run_to_completion(run_pipeline(session, tile=TileConfig.for_size(512, tta="auto")))
    info = result.trained.info
    return {"method": method, "channels": mode, "steps": info["steps"],
            "best_step": info["best_step"], "psnr_input": channel_psnr(noisy, clean),
            "psnr": channel_psnr(result.images["denoised"], clean),
            "train_seconds": info["train_seconds"], "tta": result.tta,
            "seconds": round(time.perf_counter() - t0, 1)}


def run(args) -> None:
    for noise in args.noise:
        noisy, clean = load(args.part, noise)
        for method in args.methods:
            for mode in MODES:
                row = {"part": args.part, "noise": noise,
                       **one(noisy, clean, method, mode, args.steps)}
                line = json.dumps(row)
                print(line, flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(line + "\n")


def summary(paths: list[str]) -> None:
    """A markdown table per part: PSNR per channel, joint and separate, and their gap."""
    rows = [json.loads(line) for p in paths for line in Path(p).read_text().splitlines()
            if line.strip()]
    runs = {(r["part"], r["noise"], r["method"], r["channels"]): r for r in rows}
    for part in dict.fromkeys(r["part"] for r in rows):
        print(f"\n{part} part (PSNR dB per channel c0 / c1 / c2)\n")
        print("| noise | method | input | joint | separate | separate - joint |")
        print("|---|---|---|---|---|---|")
        for noise, method in dict.fromkeys((r["noise"], r["method"]) for r in rows
                                           if r["part"] == part):
            j = runs.get((part, noise, method, "joint"))
            s = runs.get((part, noise, method, "separate"))
            if j is None or s is None:
                continue
            gap = [round(b - a, 2) for a, b in zip(j["psnr"], s["psnr"], strict=True)]
            fmt = " / ".join
            print(f"| {noise} | {method} | {fmt(f'{v:.2f}' for v in j['psnr_input'])} | "
                  f"{fmt(f'{v:.2f}' for v in j['psnr'])} | "
                  f"{fmt(f'{v:.2f}' for v in s['psnr'])} | "
                  f"{fmt(f'{v:+.2f}' for v in gap)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=tuple(PARTS), default="report")
    p.add_argument("--noise", nargs="+", choices=NOISES, default=list(NOISES))
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    p.add_argument("--steps", type=int, default=STEPS, help="optimiser steps in all")
    p.add_argument("--jsonl", help="append one JSON line per run to this file")
    p.add_argument("--summary", nargs="+", metavar="JSONL",
                   help="print the tables of results files instead of running")
    args = p.parse_args()
    if args.summary:
        summary(args.summary)
    else:
        run(args)


if __name__ == "__main__":
    main()
