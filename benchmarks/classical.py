"""The calibrated classical filter (``--method classical``) against the best-sigma blur oracle.

Run from the repository root (needs ../shared/data), under the shared CPU lock:

    flock /tmp/cpu.lock python benchmarks/classical.py \
        --jsonl docs/results/2026-12-01-classical.jsonl

Images: 3 W2S widefield pairs (spread over the set, scored after a scale-and-offset fit as in
``benchmarks/run.py``) and the 3 HeLa channels with synthetic scan-line noise
(``hela-scan``: Gaussian noise of 10 % of the range filtered along X by a 3-pixel box, scored
raw). Per image: the noisy input; ``classical`` as the pipeline runs it (calibration on the
measured partition, then the tiled prediction; seconds are its wall clock, both phases);
the best calibrated candidate of each family (the same calibration's ``families`` table,
applied to the whole image); ``classical-pixel`` (the one-pixel partition, what scikit-image's
``calibrate_denoiser`` assumes); and ``blur`` (the Gaussian sigma chosen with the ground
truth from ``benchmarks/run.py``'s grid: an oracle no method can reach blind).
Every row is one JSON line; the table is printed at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BLUR_SIGMAS, image_names, load_pair, metrics


def calibrated(noisy: np.ndarray, blind_spot: str | None = None):
    """The pipeline's ``classical`` run: (trained model, denoised, seconds)."""
    from napari_blind_denoise.core import (
        default_config,
        predict,
        run_to_completion,
        train,
    )

    cfg = default_config("classical", "cpu", seed=0)
    if blind_spot is not None:
        cfg = replace(cfg, mask=replace(cfg.mask, blind_spot=blind_spot))
    t0 = time.perf_counter()
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    out = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    return trained, out, time.perf_counter() - t0


def family_rows(trained, noisy: np.ndarray, clean: np.ndarray, kind: str) -> list[dict]:
    """Each family's best calibrated candidate applied to the whole image."""
    from napari_blind_denoise.core.methods.classical import apply_filter

    rows = []
    for family, best in trained.info["adapted"]["classical"]["families"].items():
        t0 = time.perf_counter()
        x = trained.norm.normalize(noisy[None])
        out = trained.norm.denormalize(apply_filter(family, best["params"], x))[0]
        p, s = metrics(kind, out, clean)
        rows.append({"method": f"classical-{family}", "psnr": p, "ssim": s,
                     "params": best["params"], "loss": best["loss"],
                     "apply_s": round(time.perf_counter() - t0, 3)})
    return rows


def blur_oracle(noisy: np.ndarray, clean: np.ndarray, kind: str) -> dict:
    from scipy.ndimage import gaussian_filter

    t0 = time.perf_counter()
    best = max(BLUR_SIGMAS, key=lambda s: metrics(kind, gaussian_filter(noisy, s), clean)[0])
    p, s = metrics(kind, gaussian_filter(noisy, best), clean)
    return {"method": "blur", "psnr": p, "ssim": s, "sigma": float(best),
            "seconds": round(time.perf_counter() - t0, 3)}


def one_image(kind: str, name: str) -> list[dict]:
    noisy, clean = load_pair(kind, name)
    p, s = metrics(kind, noisy, clean)
    rows = [{"method": "noisy", "psnr": p, "ssim": s}]
    trained, out, seconds = calibrated(noisy)
    p, s = metrics(kind, out, clean)
    chosen = trained.info["adapted"]["classical"]
    rows.append({"method": "classical", "psnr": p, "ssim": s, "seconds": round(seconds, 3),
                 "filter": chosen["filter"], "params": chosen["params"],
                 "partition": chosen["partition"], "candidates": chosen["candidates_tried"]})
    rows += family_rows(trained, noisy, clean, kind)
    if chosen["partition"] != "pixel":
        pix, out, seconds = calibrated(noisy, "pixel")
        p, s = metrics(kind, out, clean)
        rows.append({"method": "classical-pixel", "psnr": p, "ssim": s,
                     "seconds": round(seconds, 3),
                     "filter": pix.info["adapted"]["classical"]["filter"],
                     "params": pix.info["adapted"]["classical"]["params"]})
    rows.append(blur_oracle(noisy, clean, kind))
    return [{"set": kind, "image": name, "shape": list(noisy.shape), **r} for r in rows]


def table(rows: list[dict]) -> str:
    """Means per (set, method): PSNR, SSIM, seconds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["set"], r["method"]), []).append(r)
    lines = ["| set | method | PSNR (dB) | SSIM | seconds | images |", "|---|---|---|---|---|---|"]
    for (kind, method), rs in groups.items():
        secs = [r["seconds"] for r in rs if "seconds" in r]
        sec = f"{np.mean(secs):.1f}" if secs else ""
        lines.append(f"| {kind} | {method} | {np.mean([r['psnr'] for r in rs]):.2f} | "
                     f"{np.mean([r['ssim'] for r in rs]):.4f} | {sec} | {len(rs)} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="w2s,hela-scan")
    ap.add_argument("--w2s-limit", type=int, default=3)
    ap.add_argument("--jsonl", help="append one JSON line per row to this file")
    args = ap.parse_args()
    rows = []
    for kind in args.sets.split(","):
        for name in image_names(kind, args.w2s_limit if kind == "w2s" else None):
            for r in one_image(kind, name):
                rows.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(r) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
