"""How close bsn's Poisson-Gaussian start is to the noise: the estimate from the noisy image
alone (``estimate_poisson_gaussian`` on the central 256² crop, as ``prepare`` reads it)
against a line fitted with the ground truth, on the W2S report pairs.

Ground-truth fit: the clean image scaled and offset onto the noisy one (least squares), the
residual's variance in 8 quantile bins of that fitted signal, a line through them. The
8-bit noisy images are clipped at 0, so that line's intercept comes out negative; the
estimate is then fitted through the origin. Printed: both ``a, b`` and the noise std each
gives at the 10th, 50th and 90th percentile of the fitted signal.

    python benchmarks/pg_estimate.py [--images 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from splits import w2s_part

from napari_blind_denoise.core.methods.bayesian import estimate_poisson_gaussian

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "w2s_widefield_pairs"


def truth_fit(noisy: np.ndarray, clean: np.ndarray) -> tuple[float, float, np.ndarray]:
    design = np.stack([clean.ravel(), np.ones(clean.size)], axis=1)
    scale, offset = np.linalg.lstsq(design, noisy.ravel(), rcond=None)[0]
    signal = scale * clean + offset
    residual = noisy - signal
    edges = np.quantile(signal, np.linspace(0, 1, 9))
    points = [(signal[m].mean(), residual[m].var())
              for m in (((signal >= lo) & (signal < hi)) for lo, hi in itertools.pairwise(edges))
              if m.sum() > 100]
    x, v = np.asarray(points).T
    a, b = np.polyfit(x, v, 1)
    return float(a), float(b), signal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"no W2S data at {DATA}")
    names = w2s_part(sorted(p.stem for p in (DATA / "noisy").glob("*.png")), "report")
    lines = ["| pair | estimate a, b | ground-truth fit a, b | std at p10 / p50 / p90: "
             "estimate | ground truth |", "|---|---|---|---|---|"]
    for name in names[:args.images]:
        noisy = iio.imread(DATA / "noisy" / f"{name}.png").astype(np.float64)
        clean = iio.imread(DATA / "gt" / f"{name}.png").astype(np.float64)
        h, w = noisy.shape
        crop = noisy[max(0, h // 2 - 128): h // 2 + 128, max(0, w // 2 - 128): w // 2 + 128]
        fit = estimate_poisson_gaussian([crop])
        ta, tb, signal = truth_fit(noisy, clean)
        levels = np.percentile(signal, [10, 50, 90])
        true_std = " / ".join(f"{math.sqrt(max(ta * s + tb, 0.0)):.1f}" for s in levels)
        if fit is None:
            est, est_std = "none (no slope seen)", "-"
        else:
            est = f"{fit[0]:.2f}, {fit[1]:.1f}"
            est_std = " / ".join(f"{math.sqrt(fit[0] * s + fit[1]):.1f}" for s in levels)
        lines.append(f"| {name} | {est} | {ta:.2f}, {tb:.1f} | {est_std} | {true_std} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
