"""The salt-and-pepper impulse detector (``core.data.exclude.ImpulseMask``), measured.

For each image: salt-and-pepper (half 0, half 255) added to a fraction of the pixels; the
share of them found (``found``), the share of those more than 3 noise stds from the clean
value that were found (``found_3s``: the impulses that matter; needs a clean image), and the
share of the other pixels flagged (``false``); and, on the image without impulses, the share
flagged (``clean_false``). Sets: ``blobs`` (synthetic, 8-bit, noise std 10 between 40 and
215, and 25 over 0..255), ``bsd68`` (the first 3 images, noise std 25, rounded and clipped to
8 bits), ``w2s`` (real widefield noise, 8-bit; no clean value, so no ``found_3s``). Run from
the repository root (needs ../shared/data; a few seconds):

    python benchmarks/impulses.py --sigmas 3,4,5 --w2s-part tuning
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from splits import w2s_part

from napari_blind_denoise.core.data.exclude import ImpulseMask
from tests.conftest import make_blobs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def salt_and_pepper(image: np.ndarray, fraction: float, rng: np.random.Generator):
    """``image`` with ``fraction`` of its pixels set to 0 or 255; and where."""
    hit = rng.random(image.shape) < fraction
    salt = rng.random(image.shape) < 0.5
    out = image.copy()
    out[hit & salt], out[hit & ~salt] = 255, 0
    return out, hit


def to_8bit(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return np.clip(np.round(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)


def images(sets: list[str], w2s: str, rng: np.random.Generator):
    """``(name, noisy 8-bit, clean or None, noise std or None)``."""
    import imageio.v3 as iio

    if "blobs" in sets:
        b = make_blobs((256, 256), seed=3)
        b = b / b.max()
        for sigma, lo, hi in ((10, 40, 215), (25, 0, 255)):
            clean = lo + (hi - lo) * b
            yield f"blobs {lo}-{hi} std {sigma}", to_8bit(clean, sigma, rng), clean, sigma
    if "bsd68" in sets:
        for path in sorted((DATA / "bsd68_gray").glob("*.png"))[:3]:
            clean = iio.imread(path).astype(np.float32)
            yield f"bsd68 {path.stem} std 25", to_8bit(clean, 25, rng), clean, 25
    if "w2s" in sets:
        names = sorted(p.stem for p in (DATA / "w2s_widefield_pairs" / "noisy").glob("*.png"))
        for name in w2s_part(names, w2s):
            noisy = iio.imread(DATA / "w2s_widefield_pairs" / "noisy" / f"{name}.png")
            yield f"w2s {name}", noisy, None, None


def measure(noisy, clean, sigma, fraction, k, rng) -> dict:
    corrupted, hit = salt_and_pepper(noisy, fraction, rng)
    found = np.asarray(ImpulseMask(corrupted, "YX", sigmas=k))
    row = {"found": found[hit].mean(), "false": found[~hit].mean(),
           "clean_false": np.asarray(ImpulseMask(noisy, "YX", sigmas=k)).mean()}
    if clean is not None:
        harmful = hit & (np.abs(corrupted.astype(np.float32) - clean) > 3 * sigma)
        row["found_3s"] = found[harmful].mean()
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sets", default="blobs,bsd68,w2s")
    p.add_argument("--sigmas", default="3,4,5", help="IMPULSE_SIGMAS values to compare")
    p.add_argument("--fractions", default="0.05,0.2")
    p.add_argument("--w2s-part", default="tuning", choices=("tuning", "report", "all"))
    args = p.parse_args()
    ks = [float(k) for k in args.sigmas.split(",")]
    print("image | impulses | " + " | ".join(f"k={k:g}: found, found_3s, false, clean_false"
                                             for k in ks))
    for name, noisy, clean, sigma in images(args.sets.split(","), args.w2s_part,
                                            np.random.default_rng(0)):
        for fraction in (float(f) for f in args.fractions.split(",")):
            cells = []
            for k in ks:
                r = measure(noisy, clean, sigma, fraction, k, np.random.default_rng(1))
                f3 = f"{r['found_3s']:.3f}" if "found_3s" in r else "-"
                cells.append(f"{r['found']:.3f}, {f3}, {r['false']:.4f}, "
                             f"{r['clean_false']:.4f}")
            print(f"{name} | {fraction:g} | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
