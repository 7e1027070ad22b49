"""What runs before training's first step, and how long: the Stop latency of that phase.

    python benchmarks/setup_latency.py [--planes 8] [--size 2048] [--repeats 3]

Stop is checked between training steps; what comes before the first step (the method's
choices from the data — the noise-correlation measurement for n2v/n2s — and the
normalisation statistics, samplers, network and optimiser) is not interrupted. This prints,
on a synthetic ZYX stack, the noise-correlation measurement alone and the time to the first
training event (setup plus one step) for each network method, best of the repeats.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    """Command-line entry."""
    from napari_blind_denoise.core import default_config, train
    from napari_blind_denoise.core.data.axes import validate_axes
    from napari_blind_denoise.core.noise.correlation import estimate_noise_correlation

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planes", type=int, default=8)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--methods", default="n2v,n2s,nnet,s2s,bsn")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    shape = (args.planes, args.size, args.size)
    stack = rng.normal(100, 10, shape).astype(np.float32)
    layout = validate_axes("ZYX", shape)
    print(f"stack {args.planes}×{args.size}² float32, best of {args.repeats}")
    print("| what | seconds |")
    print("|---|---|")
    sec = _best(lambda: estimate_noise_correlation(stack, layout), args.repeats)
    print(f"| noise-correlation measurement | {sec:.3f} |")
    for m in args.methods.split(","):
        cfg = default_config(m, "cpu", steps=2)
        next(train(stack[:1, :128, :128], "ZYX", cfg, device="cpu"))  # warm-up
        sec = _best(lambda cfg=cfg: next(train(stack, "ZYX", cfg, device="cpu")), args.repeats)
        print(f"| {m}: to the first training event (setup + 1 step) | {sec:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
