"""Test-time augmentation: what averaging over the 8 flips/rotations buys, and what it costs.

Trains the default CPU configuration once per image (a fixed step budget, seeded), then
predicts with and without ``tta`` from the same model and prints PSNR and prediction seconds
of both. Images: W2S pairs (real widefield noise, scored after a scale/offset fit) and HeLa
channels with synthetic scan-line noise (``benchmarks/run.py``'s ``hela-scan`` set). Run from
the repository root (needs ../shared/data):

    python benchmarks/tta.py --method n2s --steps 1500 --w2s 3 --hela 2 --jsonl out.jsonl
    python benchmarks/tta.py --method n2s --steps 700 --sets hela-scan,nuclei-resampled \\
        --images hela_c0,nuclei_img2d
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import image_names, load_pair, metrics


def one(kind: str, name: str, method: str, steps: int) -> dict:
    """Train once, predict plain and with TTA."""
    from napari_blind_denoise.core import (
        TileConfig,
        default_config,
        predict,
        run_to_completion,
        train,
    )

    noisy, clean = load_pair(kind, name)
    trained = run_to_completion(train(noisy, "YX", default_config(method, "cpu", steps=steps)))
    row = {"set": kind, "image": name, "method": method, "steps": steps,
           "blind_spot": trained.config.mask.blind_spot}
    for tta in (False, True):
        t0 = time.perf_counter()
        out = run_to_completion(predict(trained, noisy, "YX", tile=TileConfig(tta=tta)))
        seconds = time.perf_counter() - t0
        key = "tta" if tta else "plain"
        row[f"{key}_psnr"] = round(metrics(kind, out, clean)[0], 3)
        row[f"{key}_s"] = round(seconds, 2)
    return row


def main() -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="n2s")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--w2s", type=int, default=3, help="number of W2S pairs")
    ap.add_argument("--hela", type=int, default=2, help="number of HeLa channels")
    ap.add_argument("--sets", help="comma-separated sets of benchmarks/run.py (instead of "
                    "--w2s/--hela), with --images")
    ap.add_argument("--images", help="comma-separated image names kept from --sets")
    ap.add_argument("--jsonl", help="append one JSON line per image here")
    args = ap.parse_args()
    if args.sets:
        keep = args.images.split(",") if args.images else None
        cases = [(kind, n) for kind in args.sets.split(",")
                 for n in image_names(kind, None) if keep is None or n in keep]
    else:
        cases = [("w2s", n) for n in image_names("w2s", args.w2s)] if args.w2s > 0 else []
        if args.hela > 0:
            cases += [("hela-scan", n) for n in image_names("hela-scan", args.hela)]
    print("| image | blind spot | PSNR plain | PSNR TTA | gain (dB) | predict s plain | TTA |")
    print("|---|---|---|---|---|---|---|")
    for kind, name in cases:
        r = one(kind, name, args.method, args.steps)
        print(f"| {kind} {name} | {r['blind_spot']} | {r['plain_psnr']:.2f} | "
              f"{r['tta_psnr']:.2f} | {r['tta_psnr'] - r['plain_psnr']:+.2f} | "
              f"{r['plain_s']:.2f} | {r['tta_s']:.2f} |", flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
