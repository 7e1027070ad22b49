"""Out-of-core prediction: a zarr stack >= 8x the memory budget, predicted by the CLI.

    flock /tmp/cpu.lock python benchmarks/out_of_core.py [--gb 2] [--budget 256] [--size 2048]

Writes a synthetic float32 ZYX zarr stack of ``--gb`` GiB (planes of ``--size``², chunks
1x256x256) into a temporary folder, trains the CPU preset's n2v network for a few steps on
a 256² crop (prediction speed does not depend on the weights), then runs
``blind-denoise predict STACK --model M -o OUT.zarr --memory-budget BUDGET`` in a child
process and prints its peak RSS (``resource.getrusage``) next to the budget plus the fixed
overhead. The fixed overhead is measured, not assumed: the peak RSS of the same command on
one 256² plane (Python, torch, the libraries and the model). Throughput is the stack's
pixels over the prediction's seconds (the CLI's ``predict_seconds``). The folder is removed
at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = ("import resource, sys; from napari_blind_denoise.cli import main; "
         "rc = main(sys.argv[1:]); "
         "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)")
CAREAMICS = ("careamics 0.3.5 (the issue's quoted figure, not measured here): 0.205 MPix/s on "
             "2048², 7.2 GiB peak")


def write_stack(path: Path, planes: int, size: int) -> None:
    """Plane by plane: smooth structures plus Gaussian noise, float32."""
    import zarr

    z = zarr.open_array(store=str(path), mode="w", shape=(planes, size, size), dtype="float32",
                        chunks=(1, 256, 256))
    z.attrs["axes"] = "ZYX"
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    rng = np.random.default_rng(0)
    for k in range(planes):
        clean = 100 + 50 * np.sin(yy / (30 + k % 7)) * np.cos(xx / (20 + k % 5))
        z[k] = (clean + rng.normal(0, 10, (size, size))).astype(np.float32)


def predict_child(stack: Path, model: Path, out: Path, budget: float) -> dict:
    """Run the CLI's predict in a fresh process; its JSON summary and peak RSS (MB)."""
    cmd = [sys.executable, "-c", CHILD, "predict", str(stack), "--model", str(model), "-o",
           str(out), "--device", "cpu", "--memory-budget", str(budget), "--json", "--quiet"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    lines = done.stdout.strip().splitlines()
    summary = json.loads(lines[-2])
    summary["peak_rss_mb"] = int(lines[-1].split()[1]) / 1024
    return summary


def train_model(stack, folder: Path) -> tuple[Path, float]:
    """A few n2v steps on a crop; the saved model and its weights' size (MB)."""
    from napari_blind_denoise.core import default_config, run_to_completion, save_model, train

    crop = np.asarray(stack[0, :256, :256])
    trained = run_to_completion(train(crop, "YX", default_config("n2v", "cpu", steps=5),
                                      device="cpu"))
    weights = sum(p.numel() * p.element_size() for p in trained.model.parameters()) / 2**20
    return save_model(trained, folder / "model"), weights


def main() -> int:
    """Command-line entry."""
    import zarr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gb", type=float, default=2.0, help="stack size in GiB (float32)")
    ap.add_argument("--budget", type=float, default=256.0, help="--memory-budget in MB")
    ap.add_argument("--size", type=int, default=2048, help="plane edge")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    planes = math.ceil(args.gb * 2**30 / (4 * args.size**2))
    gib = planes * 4 * args.size**2 / 2**30
    folder = Path(tempfile.mkdtemp(prefix="out-of-core-"))
    try:
        t0 = time.perf_counter()
        write_stack(folder / "stack.zarr", planes, args.size)
        print(f"stack: {planes} x {args.size}² float32 = {gib:.2f} GiB "
              f"({gib * 1024 / args.budget:.1f}x the {args.budget:g} MB budget), written in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        model, weights = train_model(zarr.open_array(str(folder / "stack.zarr"), mode="r"),
                                     folder)
        write_stack(folder / "one.zarr", 1, 256)
        base = predict_child(folder / "one.zarr", model, folder / "one-out.zarr", args.budget)
        big = predict_child(folder / "stack.zarr", model, folder / "out.zarr", args.budget)
        mpix = planes * args.size**2 / 1e6
        limit = args.budget + base["peak_rss_mb"]
        print(f"model weights: {weights:.2f} MB; fixed overhead + model (peak RSS of the same "
              f"command on one 256² plane): {base['peak_rss_mb']:.0f} MB")
        print(f"tile chosen: {big['predict_tile']} px, estimate {big['predict_memory_mb']} MB "
              f"of the {args.budget:g} MB budget")
        print(f"peak RSS predicting the stack: {big['peak_rss_mb']:.0f} MB; budget + fixed "
              f"overhead + model: {limit:.0f} MB -> "
              f"{'within' if big['peak_rss_mb'] <= limit else 'OVER'}")
        print(f"throughput: {mpix:.0f} MPix in {big['predict_seconds']:.1f} s = "
              f"{mpix / big['predict_seconds']:.2f} MPix/s (CPU, "
              f"{len(os.sched_getaffinity(0))} cores)")
        print(CAREAMICS)
        return 0 if big["peak_rss_mb"] <= limit else 1
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
