"""Tiled-prediction throughput (MPix/s) on a 2048² image, CPU preset network.

    python benchmarks/predict_speed.py [--size 2048] [--tiles 256,512,1024] [--repeats 3]

The network is the CPU preset's UNet, briefly trained (its speed does not depend on the
weights). Prints a markdown table: tile size, overlap, seconds (best of the repeats), MPix/s,
peak RSS; then careamics 0.3.5's figure from issue 14 (0.205 MPix/s on a 2048² image, 2
CPU cores; not measured here) next to the fastest tile's.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np

CAREAMICS_MPIX = 0.205  # careamics 0.3.5, 2048² image, 2 CPU cores (issue 14; not run here)


def main() -> int:
    """Command-line entry."""
    from napari_blind_denoise.core import (
        TileConfig,
        default_config,
        predict,
        run_to_completion,
        train,
    )

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--tiles", default="256,512,1024")
    ap.add_argument("--overlap", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[: args.size, : args.size]
    image = (100 + 50 * np.sin(yy / 37.0) * np.cos(xx / 23.0)
             + rng.normal(0, 10, (args.size, args.size))).astype(np.float32)
    trained = run_to_completion(train(image[:256, :256], "YX",
                                      default_config("n2v", "cpu", steps=5), device="cpu"))
    mpix = args.size * args.size / 1e6
    print("| image | tile | overlap | seconds | MPix/s | peak RSS (MB) |")
    print("|---|---|---|---|---|---|")
    rates = {}
    for tile in (int(t) for t in args.tiles.split(",")):
        cfg = TileConfig(tile_size=tile, overlap=args.overlap)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            run_to_completion(predict(trained, image, "YX", tile=cfg, device="cpu"))
            times.append(time.perf_counter() - t0)
        best = min(times)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rates[tile] = mpix / best
        print(f"| {args.size}² | {tile} | {args.overlap} | {best:.2f} | {mpix / best:.2f} | "
              f"{rss:.0f} |", flush=True)
    tile, rate = max(rates.items(), key=lambda kv: kv[1])
    print(f"\ncareamics 0.3.5 (issue 14's figure, not measured here): {CAREAMICS_MPIX} MPix/s "
          f"on a 2048² image, 2 CPU cores; ours: {rate:.2f} MPix/s ({tile}-px tiles, "
          f"{args.size}²) = {rate / CAREAMICS_MPIX:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
