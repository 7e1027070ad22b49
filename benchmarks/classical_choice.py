"""Choosing between filter families on a noisy loss: how many standard errors to ask for.

The calibrated classical filter (``--method classical``) scores every candidate by its
J-invariant self-supervised loss. With a block partition (correlated noise) the families'
lowest losses often differ by less than the loss's own noise, and the lowest loss by chance
picked a total-variation filter 4.4 dB worse than the Gaussian blur
(docs/benchmarks.md). The package therefore keeps the first family's choice (the Gaussian
blur) unless another family's loss is lower by ``ClassicalConfig.significance`` standard
errors (paired over 32-pixel tiles). This script measures, per image, each family's best
candidate (its loss, its advantage in standard errors over the Gaussian, its PSNR against the
clean image when applied to the whole image) and what each threshold would have chosen:

    python benchmarks/classical_choice.py --sets hela-scan,hela-resampled --images hela_c1 \\
        --jsonl docs/results/2026-12-02-classical-choice-tuning.jsonl

Families: Gaussian, TV, wavelet (if PyWavelets is installed) and NLM, without a time budget
(so the choice does not depend on the machine's load); BM3D left out (minutes per image).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import image_names, load_pair, metrics

THRESHOLDS = (0.0, 1.0, 2.0, 3.0, 4.0, float("inf"))


def one_image(kind: str, name: str) -> dict:
    """Calibrate once, then score each family's best candidate on the whole image."""
    from napari_blind_denoise.core import default_config, run_to_completion, train
    from napari_blind_denoise.core.config import ClassicalConfig
    from napari_blind_denoise.core.methods.classical import apply_filter

    noisy, clean = load_pair(kind, name)
    cfg = default_config("classical", "cpu", seed=0, time_budget=None)
    cfg = replace(cfg, classical=ClassicalConfig(
        families=("gaussian", "tv", "wavelet", "nlm"), significance=0.0))
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    info = trained.info["adapted"]["classical"]
    families = {}
    for family, best in info["families"].items():
        x = trained.norm.normalize(noisy[None])
        out = trained.norm.denormalize(apply_filter(family, best["params"], x))[0]
        families[family] = {"loss": best["loss"], "advantage": best.get("advantage"),
                            "params": best["params"],
                            "psnr": round(metrics(kind, out, clean)[0], 3)}
    return {"set": kind, "image": name, "partition": info["partition"],
            "noisy": round(metrics(kind, noisy, clean)[0], 3), "families": families}


def choice(row: dict, threshold: float) -> str:
    """The family a threshold picks: the lowest loss among the reference (first) family and
    those at least ``threshold`` standard errors better than it."""
    fams = row["families"]
    ref = next(iter(fams))
    ok = [f for f, v in fams.items()
          if f == ref or (v["advantage"] is not None and v["advantage"] >= threshold)]
    return min(ok, key=lambda f: fams[f]["loss"])


def table(rows: list[dict]) -> str:
    head = "| image | partition | noisy | " + " | ".join(
        f"{f} (adv)" for f in ("gaussian", "tv", "wavelet", "nlm")) + " | " + " | ".join(
        f"z={t:g}" for t in THRESHOLDS) + " |"
    lines = [head, "|" + "---|" * (3 + 4 + len(THRESHOLDS))]
    means = {t: [] for t in THRESHOLDS}
    for r in rows:
        cells = []
        for f in ("gaussian", "tv", "wavelet", "nlm"):
            v = r["families"].get(f)
            adv = "" if v is None or v["advantage"] is None else f" ({v['advantage']:+.1f})"
            cells.append("" if v is None else f"{v['psnr']:.2f}{adv}")
        picks = []
        for t in THRESHOLDS:
            f = choice(r, t)
            means[t].append(r["families"][f]["psnr"])
            picks.append(f"{f} {r['families'][f]['psnr']:.2f}")
        lines.append(f"| {r['set']} {r['image']} | {r['partition']} | {r['noisy']:.2f} | "
                     + " | ".join(cells) + " | " + " | ".join(picks) + " |")
    lines.append("| mean | | | | | | | " + " | ".join(
        f"{np.mean(v):.2f}" for v in means.values()) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", default="hela-scan,hela-resampled")
    ap.add_argument("--images", help="comma-separated image names (default: all of a set)")
    ap.add_argument("--part", default="tuning", help="W2S part (benchmarks/splits.py)")
    ap.add_argument("--limit", type=int, help="images per set, spread evenly")
    ap.add_argument("--jsonl")
    ap.add_argument("--report", nargs="+", help="only print the table of saved rows")
    args = ap.parse_args()
    if args.report:
        rows = [json.loads(line) for p in args.report
                for line in Path(p).read_text().splitlines() if line.strip()]
        print(table(rows))
        return 0
    rows = []
    for kind in args.sets.split(","):
        names = image_names(kind, args.limit, args.part)
        if args.images:
            names = [n for n in names if n in args.images.split(",")]
        for name in names:
            row = one_image(kind, name)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(row) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
