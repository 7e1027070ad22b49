"""The blend of n2v/n2s with a calibrated Gaussian blur (``BlendConfig``), measured.

Trains the default CPU configuration once per image (fixed steps, seeded; the blend is
calibrated after training as the CLI does), then predicts with the default options (``tta``
auto) twice from the same model: with the blend and with the network alone (``blend``
off). Next to them: the calibrated blur alone, the best-σ blur chosen with the ground
truth (an oracle) and the blend weight the ground truth would choose. Run from the
repository root (needs ../shared/data):

    python benchmarks/blend.py --method n2s --steps 700 \\
        --sets hela-scan,hela-resampled,nuclei-scan,nuclei-resampled \\
        --images hela_c0,hela_c2,nuclei_img2d --jsonl out.jsonl
    python benchmarks/blend.py --method n2v --steps 400 --sets sample --seeds 0,1  # the demo's
    python benchmarks/blend.py --method n2v --steps 700 --sets w2s --part report --limit 8
    python benchmarks/blend.py --summary out.jsonl   # tables and means of a results file
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


def _pair(kind: str, name: str):
    """``benchmarks/run.py``'s image, or (``sample``) the embedded sample of the demo."""
    if kind != "sample":
        return load_pair(kind, name)
    from napari_blind_denoise.sample_data import load_sample

    noisy, clean = load_sample()
    return noisy.astype(np.float32), clean.astype(np.float32)


def _score(kind: str, image: np.ndarray, clean: np.ndarray) -> float:
    if kind != "sample":
        return metrics(kind, image, clean)[0]
    from napari_blind_denoise.core import psnr

    return psnr(image, clean, data_range=float(clean.max() - clean.min()))


def one(kind: str, name: str, method: str, steps: int, seed: int = 0) -> dict:
    """Train once; score the blend, the network alone, the calibrated blur and oracles."""
    from scipy.ndimage import gaussian_filter

    from napari_blind_denoise.core import (
        BlendConfig,
        default_config,
        predict,
        run_to_completion,
        train,
    )
    from napari_blind_denoise.core.methods.classical import apply_filter

    noisy, clean = _pair(kind, name)
    t0 = time.perf_counter()
    trained = run_to_completion(train(noisy, "YX", default_config(method, "cpu", steps=steps,
                                                                  seed=seed)))
    wall = time.perf_counter() - t0
    blend = trained.config.blend
    out = run_to_completion(predict(trained, noisy, "YX"))
    alone = replace(trained, config=replace(trained.config, blend=BlendConfig(mode="off")))
    net = run_to_completion(predict(alone, noisy, "YX"))
    norm = trained.norm
    filtered = norm.denormalize(apply_filter(blend.filter, blend.params,
                                             norm.normalize(noisy[None].astype(np.float32))))[0]
    psnr = {key: round(_score(kind, img, clean), 3)
            for key, img in (("blend", out), ("network", net), ("filter", filtered))}
    best = max(BLUR_SIGMAS, key=lambda s: _score(kind, gaussian_filter(noisy, s), clean))
    psnr["oracle_blur"] = round(_score(kind, gaussian_filter(noisy, best), clean), 3)
    weights = np.linspace(0, 1, 21)
    scores = [_score(kind, w * net + (1 - w) * filtered, clean) for w in weights]
    info = trained.info["blend"]
    return {"set": kind, "image": name, "method": method, "steps": steps, "seed": seed,
            "blind_spot": trained.config.mask.blind_spot, "weight": blend.weight,
            "filter": info["filter"], **{f"psnr_{k}": v for k, v in psnr.items()},
            "oracle_weight": round(float(weights[int(np.argmax(scores))]), 2),
            "psnr_oracle_weight": round(max(scores), 3),
            "train_and_calibrate_s": round(wall, 1),
            "setup_and_calibration_s": round(wall - trained.info["train_seconds"], 1)}


def summarize(path: str) -> str:
    """Markdown: per method and group of images (correlated noise, W2S), every image and the
    means, and the blend's gain over each of its parts and the oracle blur."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    lines = []
    for method in dict.fromkeys(r["method"] for r in rows):
        for group, test in (("correlated noise", lambda r: "-" in r["set"]),
                            ("W2S", lambda r: r["set"] == "w2s"),
                            ("the embedded sample", lambda r: r["set"] == "sample")):
            sel = [r for r in rows if r["method"] == method and test(r)]
            if not sel:
                continue
            lines += [f"### {method}, {group} ({len(sel)} images, {sel[0]['steps']} steps)", "",
                      "| image | blind spot | network | blend (weight) | calibrated blur | "
                      "oracle blur | oracle weight |", "|---|---|---|---|---|---|---|"]
            for r in sel:
                lines.append(f"| {r['set']} {r['image']} | {r['blind_spot']} | "
                             f"{r['psnr_network']:.2f} | {r['psnr_blend']:.2f} "
                             f"({r['weight']:.2f}) | {r['psnr_filter']:.2f} | "
                             f"{r['psnr_oracle_blur']:.2f} | {r['psnr_oracle_weight']:.2f} "
                             f"({r['oracle_weight']:.2f}) |")
            mean = {k: float(np.mean([r[k] for r in sel])) for k in (
                "psnr_network", "psnr_blend", "psnr_filter", "psnr_oracle_blur",
                "psnr_oracle_weight")}
            gain = [r["psnr_blend"] - r["psnr_network"] for r in sel]
            lines += [f"| mean | | {mean['psnr_network']:.2f} | {mean['psnr_blend']:.2f} | "
                      f"{mean['psnr_filter']:.2f} | {mean['psnr_oracle_blur']:.2f} | "
                      f"{mean['psnr_oracle_weight']:.2f} |", "",
                      f"- blend − network: {np.mean(gain):+.2f} dB "
                      f"({min(gain):+.2f} … {max(gain):+.2f})",
                      f"- blend − calibrated blur: "
                      f"{mean['psnr_blend'] - mean['psnr_filter']:+.2f} dB",
                      f"- blend − oracle blur: "
                      f"{mean['psnr_blend'] - mean['psnr_oracle_blur']:+.2f} dB",
                      f"- blend − blend at the oracle weight: "
                      f"{mean['psnr_blend'] - mean['psnr_oracle_weight']:+.2f} dB", ""]
    return "\n".join(lines)


def main() -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="n2s")
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--sets", default="hela-scan")
    ap.add_argument("--images", help="comma-separated image names kept from --sets")
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds")
    ap.add_argument("--part", default="all", help="W2S part (see benchmarks/splits.py)")
    ap.add_argument("--limit", type=int, help="images per set, spread evenly")
    ap.add_argument("--jsonl", help="append one JSON line per image here")
    ap.add_argument("--summary", metavar="JSONL", help="print the tables of a results file")
    args = ap.parse_args()
    if args.summary:
        print(summarize(args.summary))
        return 0
    keep = args.images.split(",") if args.images else None
    cases = [(kind, n) for kind in args.sets.split(",")
             for n in (["nuclei"] if kind == "sample" else image_names(kind, args.limit, args.part))
             if keep is None or n in keep]
    print("| image | blind spot | network | blend (weight) | calibrated blur | oracle blur | "
          "oracle weight |")
    print("|---|---|---|---|---|---|---|")
    for (kind, name), seed in ((c, int(s)) for c in cases for s in args.seeds.split(",")):
        r = one(kind, name, args.method, args.steps, seed)
        print(f"| {kind} {name} | {r['blind_spot']} | {r['psnr_network']:.2f} | "
              f"{r['psnr_blend']:.2f} ({r['weight']:.2f}) | {r['psnr_filter']:.2f} | "
              f"{r['psnr_oracle_blur']:.2f} | {r['psnr_oracle_weight']:.2f} "
              f"({r['oracle_weight']:.2f}) |", flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
