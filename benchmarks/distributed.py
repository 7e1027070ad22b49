"""Prediction on dask.distributed workers: one process vs 1 and 2 local worker processes.

    flock /tmp/cpu.lock python benchmarks/distributed.py [--planes 16] [--size 1024]
    flock /tmp/cpu.lock python benchmarks/distributed.py --dims 3 --planes 96 --size 256

Writes a synthetic float32 ZYX zarr stack (``--planes`` planes of ``--size``², chunks
1x256x256) into a temporary folder, trains the CPU preset's n2v network for a few steps on a
256² crop (prediction speed does not depend on the weights), then runs the CLI in a child
process for each row:

- ``one process``: ``blind-denoise predict STACK --model M -o OUT.zarr``;
- ``1 worker`` / ``2 workers``: the same with ``--dask-workers N`` (a LocalCluster of N
  worker processes, one dask thread each; torch in each worker then runs 2 threads when
  this machine has several cores, the condition for a bitwise-equal result);
- ``2 workers, 1 torch thread``: ``--dask-torch-threads 1`` (no oversubscription, results
  equal to the last bits only).

Seconds are the CLI's ``predict_seconds`` (the prediction, from the first tile to the last
row written: for the dask rows the model's broadcast included, the cluster's start-up not,
which is reported as ``startup s``: the child's wall-clock minus its prediction), the best
of ``--repeats`` runs taken in turn (row 1, 2, 3, 4, row 1, 2, ...), since other work on a
shared machine slows some runs. Every output is compared with the first one-process output
(``np.array_equal`` over all runs of the row, and the largest difference). The folder is
removed at the end unless ``--keep``.

``--dims 3``: the CPU preset's network as a 3-D one (trained on a 32x256x256 crop, as in
``benchmarks/out_of_core.py --dims 3``) predicts the stack as one volume in blocks; the
dask rows cut it into slabs of Z rows of blocks (docs/distributed.md), and the table adds
the units and the blocks predicted (halos included) against one process's blocks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from out_of_core import train_model as train_model_3d
from out_of_core import write_stack  # the same synthetic stack

EXTRA: list[str] = []  # flags for every row (--memory-budget)
ROWS = (("one process", []),
        ("1 worker", ["--dask-workers", "1"]),
        ("2 workers", ["--dask-workers", "2"]),
        ("2 workers, 1 torch thread", ["--dask-workers", "2", "--dask-torch-threads", "1"]))


def train_model(stack, folder: Path) -> Path:
    """A few n2v steps of the CPU preset on a crop; the saved model."""
    from napari_blind_denoise.core import default_config, run_to_completion, save_model, train

    crop = np.asarray(stack[0, :256, :256])
    trained = run_to_completion(train(crop, "YX", default_config("n2v", "cpu", steps=5),
                                      device="cpu"))
    return save_model(trained, folder / "model")


def predict_child(stack: Path, model: Path, out: Path, flags: list[str]) -> dict:
    flags = [*flags, *EXTRA]
    """The CLI's predict in a fresh process; its JSON summary and wall-clock seconds."""
    cmd = [sys.executable, "-m", "napari_blind_denoise.cli", "predict", str(stack), "--model",
           str(model), "-o", str(out), "--device", "cpu", "--json", "--quiet", *flags]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["wall_seconds"] = wall
    return summary


def run_rows(stack: Path, model: Path, folder: Path, repeats: int) -> dict[str, list[dict]]:
    """Every row ``repeats`` times, in turn; each run's summary, its output compared with
    the first one-process output."""
    import zarr

    runs: dict[str, list[dict]] = {name: [] for name, _ in ROWS}
    reference = None
    for _ in range(repeats):
        for k, (name, flags) in enumerate(ROWS):
            out = folder / f"out{k}.zarr"
            s = predict_child(stack, model, out, flags)
            result = zarr.open_array(store=str(out), mode="r")[...]
            reference = result if reference is None else reference
            s["equal"] = np.array_equal(result, reference)
            s["diff"] = float(np.abs(result - reference).max())
            runs[name].append(s)
            shutil.rmtree(out)
            print(f"{name}: {s['predict_seconds']:.1f} s, load average "
                  f"{os.getloadavg()[0]:.1f}", file=sys.stderr, flush=True)
    return runs


def main() -> int:
    """Command-line entry."""
    import zarr

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--planes", type=int, default=16)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2, help="runs per row (the best is shown)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    ap.add_argument("--dims", type=int, choices=(2, 3), default=2,
                    help="2-D network plane by plane, or a 3-D network on the volume")
    ap.add_argument("--budget", type=float, help="--memory-budget in MB for every row")
    args = ap.parse_args()
    if args.budget:
        EXTRA.extend(["--memory-budget", f"{args.budget:g}"])
    folder = Path(tempfile.mkdtemp(prefix="bd-distributed-"))
    try:
        stack = folder / "stack.zarr"
        write_stack(stack, args.planes, args.size)
        arr = zarr.open_array(store=str(stack), mode="r")
        model = (train_model_3d(arr, folder, 3)[0] if args.dims == 3
                 else train_model(arr, folder))
        mpix = args.planes * args.size**2 / 1e6
        print(f"stack: {args.planes} x {args.size}² float32 ({mpix:.1f} MPix), "
              f"{len(os.sched_getaffinity(0))} CPU cores, {args.dims}-D network, "
              f"{'blocks' if args.dims == 3 else 'tiles'} of the default tile edge (512, "
              f"overlap 48) within the budget ({args.budget or 'default'} MB), "
              f"load average at start {os.getloadavg()[0]:.1f}", flush=True)
        print(f"{'run':28s}{'seconds':>9s}{'MPix/s':>8s}{'vs 1 worker':>13s}{'startup s':>11s}"
              f"{'workers used':>14s}{'bitwise':>9s}{'max diff':>10s}  all runs (s)")
        runs = run_rows(stack, model, folder, args.repeats)
        one_worker = min(r["predict_seconds"] for r in runs["1 worker"])
        for name, flags in ROWS:
            best = min(runs[name], key=lambda r: r["predict_seconds"])
            secs = best["predict_seconds"]
            speedup = f"{one_worker / secs:.2f}x" if flags else "-"
            used = best["dask"]["workers_used"] if "dask" in best else "-"
            every = ", ".join(f"{r['predict_seconds']:.1f}" for r in runs[name])
            print(f"{name:28s}{secs:9.2f}{mpix / secs:8.2f}{speedup:>13s}"
                  f"{best['wall_seconds'] - secs:11.1f}{used!s:>14s}"
                  f"{all(r['equal'] for r in runs[name])!s:>9s}"
                  f"{max(r['diff'] for r in runs[name]):10.2g}  {every}", flush=True)
            if args.dims == 3:
                dask = best.get("dask", {})
                print(f"    tile {best.get('predict_tile')}, units {dask.get('units', '-')}, "
                      f"planes per unit {dask.get('planes_per_unit', '-')}, blocks predicted "
                      f"{dask.get('blocks_predicted', '-')} of {dask.get('blocks', '-')}, "
                      f"in flight {dask.get('in_flight', '-')}", flush=True)
        print(f"load average at the end {os.getloadavg()[0]:.1f} (1 min)")
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
