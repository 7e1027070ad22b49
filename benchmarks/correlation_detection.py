"""How often the noise-correlation estimator reports correlation on independent noise.

Runs ``estimate_noise_correlation`` on every W2S noisy image (real widefield noise, pixel-
independent per its provenance) and on BSD68 images with seeded Gaussian noise (sigma 25),
and prints one line per image plus a summary (from the repository root, needs ../shared/data):

    python benchmarks/correlation_detection.py > docs/results/2026-12-01-correlation-detection.txt
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> int:
    """Print per-image extents and the summary."""
    import imageio.v3 as iio

    from napari_blind_denoise.core import estimate_noise_correlation, validate_axes

    images = [(f"w2s {p.stem}", iio.imread(p).astype(np.float32))
              for p in sorted((DATA / "w2s_widefield_pairs" / "noisy").glob("*.png"))]
    for p in sorted((DATA / "bsd68_gray").glob("*.png"))[:20]:
        clean = iio.imread(p).astype(np.float32)
        noise = np.random.default_rng(0).normal(0, 25, clean.shape)
        images.append((f"bsd68 {p.stem}", (clean + noise).astype(np.float32)))
    worst, correlated = 0.0, []
    for name, img in images:
        est = estimate_noise_correlation(img, validate_axes("YX", img.shape))
        ly, lx = est.lag1
        worst = max(worst, abs(ly), abs(lx))
        if not est.independent:
            correlated.append(name)
        print(f"{name}: extent {est.extent}, lag-1 {ly:+.3f} (Y) {lx:+.3f} (X)")
    print(f"\n{len(images)} images, {len(correlated)} reported as correlated {correlated}; "
          f"largest |lag-1| {worst:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
