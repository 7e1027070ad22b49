"""Per-image table of a ``run.py`` results file with bsn (or bsnpg), n2s, blur and noisy rows.

    python benchmarks/bsn_side_by_side.py docs/results/2026-12-03-bsn-n2s-correlated.jsonl

One row per image: bsn's posterior (``bsn`` on the scan-line sets, ``bsnpg`` on the
resampled ones, as one column) and prior, n2s, the ground-truth-tuned blur, the noisy input,
steps reached and the differences; then the mean, range and wins of each difference over
all images.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(path: str) -> int:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    d = {(r["set"], r["image"], r["method"]): r for r in rows}
    print("| image | blind spot | noisy | bsn posterior (steps) | bsn prior | n2s (steps) | "
          "tuned blur (sigma) | bsn - n2s | bsn - blur | n2s - blur |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    diffs: dict[str, list[float]] = {"bsn - n2s": [], "bsn - blur": [], "n2s - blur": [],
                                     "posterior - prior": []}
    for s, i in dict.fromkeys((r["set"], r["image"]) for r in rows):
        b = d.get((s, i, "bsn")) or d[(s, i, "bsnpg")]
        n, bl, no = d[(s, i, "n2s")], d[(s, i, "blur")], d[(s, i, "noisy")]
        row = [b["psnr"] - n["psnr"], b["psnr"] - bl["psnr"], n["psnr"] - bl["psnr"]]
        for k, v in zip(diffs, [*row, b["psnr"] - b["psnr_prior"]], strict=True):
            diffs[k].append(v)
        print(f"| {s} {i} ({b['method']}) | {b['blind_spot']} | {no['psnr']:.2f} | "
              f"{b['psnr']:.2f} ({b['steps']}) | {b['psnr_prior']:.2f} | "
              f"{n['psnr']:.2f} ({n['steps']}) | {bl['psnr']:.2f} ({bl['sigma']}) | "
              + " | ".join(f"{v:+.2f}" for v in row) + " |")
    for k, v in diffs.items():
        print(f"{len(v)} images, {k}: mean {np.mean(v):+.3f}, min {min(v):+.3f}, "
              f"max {max(v):+.3f}, first better on {sum(x > 0 for x in v)} of {len(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
