"""Self2Self (s2s, cpu preset) against n2v / n2s and classical baselines at one wall-clock
training budget, on real single images (W2S) and on BSD68 with Gaussian noise.

Run from the repository root (needs ../shared/data), under the shared CPU lock:

    flock /tmp/cpu.lock python benchmarks/self2self.py --budget 30 \
        --jsonl docs/results/2026-12-01-self2self.jsonl

- ``w2s``: the first ``--images`` noisy/ground-truth pairs of ../shared/data/w2s_widefield_pairs,
  scale-and-offset-fitted PSNR/SSIM (``benchmarks/run.py``'s loaders and metrics).
- ``bsd68``: the first ``--images`` images of ../shared/data/bsd68_gray with Gaussian noise
  sigma 25 (``run.py``'s seeded noise), then rounded and clipped to 8 bits as the paper's
  inputs are; PSNR/SSIM with peak 255. ``blur`` picks its sigma with the ground truth (an
  oracle), ``nlm`` is scikit-image's non-local means (``run.py``'s baselines).
- ``--part tuning|report|all``: which W2S pairs (``benchmarks/splits.py``: tune on one
  part, report on the other).
- ``--s2s depth=3,base_channels=32,learning_rate=3e-3,passes=8``: override fields of the
  s2s cpu preset (``ModelConfig``, ``TrainConfig`` or ``Self2SelfConfig``), for tuning.
- ``--curve-image``: for s2s on that BSD68 image, the weights are copied at steps 100, 200,
  400, 800... during the budgeted run and each copy is scored afterwards (PSNR against
  steps; copies taken mid-schedule, at the learning rate of that moment).

Prints one JSON line per cell (appended to ``--jsonl``) and the paper's BSD68 sigma-25
reference (28.70 dB, 150,000 steps on a GPU) next to the measured s2s mean.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

# idle OpenMP workers sleep instead of spinning (tests/conftest.py): 5-10x on a busy machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import baseline, image_names, load_pair, metrics

PAPER_BSD68_S25 = 28.70
TRAINED = ("s2s", "n2v", "n2s")


def noisy_clean(kind: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``run.py``'s pair; BSD68 quantised to 8 bits."""
    noisy, clean = load_pair(kind, name)
    if kind == "bsd68":
        noisy = np.clip(np.round(noisy), 0, 255).astype(np.uint8).astype(np.float32)
    return noisy, clean


OVERRIDES: dict[str, str] = {}


def _override(config):
    """``config`` with the ``--s2s`` fields replaced (each in the section that has it)."""
    from dataclasses import fields, replace

    for key, text in OVERRIDES.items():
        for section in ("model", "train", "self2self"):
            part = getattr(config, section)
            kinds = {f.name: f.type for f in fields(part)}
            if key in kinds:
                value = float(text) if "." in text or "e" in text else int(text)
                config = replace(config, **{section: replace(part, **{key: value})})
                break
        else:
            raise SystemExit(f"--s2s: no field {key!r}")
    return config


def _train(noisy, method: str, budget: float, curve: bool):
    """Train with the cpu preset for ``budget`` seconds; snapshots at doubling steps."""
    from napari_blind_denoise.core import TrainingSession, default_config

    config = default_config(method, "cpu", time_budget=budget, steps=10**9)
    if method == "s2s":
        config = _override(config)
    session = TrainingSession(noisy, "YX", config, device="cpu")
    gen, snapshots, mark = session.run(), [], 100
    while True:
        try:
            event = next(gen)
        except StopIteration as done:
            return done.value, session, snapshots
        if curve and event.step == mark:
            snapshots.append((mark, copy.deepcopy(session.model.state_dict())))
            mark *= 2


def trained_cell(kind: str, name: str, method: str, budget: float, curve: bool) -> dict:
    """One trained method on one image."""
    from napari_blind_denoise.core import TrainedModel, predict, run_to_completion

    noisy, clean = noisy_clean(kind, name)
    t0 = time.perf_counter()
    trained, session, snapshots = _train(noisy, method, budget, curve)
    t1 = time.perf_counter()
    pred = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    row = {"predict_s": round(time.perf_counter() - t1, 2), "steps": trained.info["steps"],
           "train_s": trained.info["train_seconds"], "total_s": round(time.perf_counter() - t0, 2)}
    row["psnr"], row["ssim"] = metrics(kind, pred, clean)
    points = []
    for step, state in snapshots:
        model = copy.deepcopy(session.model)
        model.load_state_dict(state)
        snap = TrainedModel(model.eval(), trained.config, trained.norm, "YX", {})
        points.append([step, round(metrics(kind, run_to_completion(
            predict(snap, noisy, "YX", device="cpu")), clean)[0], 3)])
    if points:
        row["psnr_vs_steps"] = [*points, [row["steps"], round(row["psnr"], 3)]]
    return row


def cell(kind: str, name: str, method: str, budget: float, curve: bool) -> dict:
    """One (image, method) result row."""
    if method in TRAINED:
        row = trained_cell(kind, name, method, budget, curve)
    else:
        noisy, clean = noisy_clean(kind, name)
        t0 = time.perf_counter()
        pred, extra = baseline(kind, method, noisy, clean)
        row = {"train_s": 0.0, "total_s": round(time.perf_counter() - t0, 2), **extra}
        row["psnr"], row["ssim"] = metrics(kind, pred, clean)
    extra = {"s2s": dict(OVERRIDES)} if method == "s2s" and OVERRIDES else {}
    return {"set": kind, "image": name, "method": method, "budget_s": budget, **extra,
            "psnr": round(row.pop("psnr"), 3), "ssim": round(row.pop("ssim"), 4), **row}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=30.0, help="training seconds per cell")
    p.add_argument("--images", type=int, default=3, help="images per set")
    p.add_argument("--sets", default="w2s,bsd68")
    p.add_argument("--w2s-methods", default="s2s,n2v,n2s")
    p.add_argument("--bsd68-methods", default="s2s,n2v,n2s,blur,nlm")
    p.add_argument("--curve-image", default="test001", help="BSD68 image with PSNR vs steps")
    p.add_argument("--part", default="all", choices=("all", "tuning", "report"),
                   help="W2S pairs of this part (benchmarks/splits.py)")
    p.add_argument("--s2s", default="", help="s2s preset overrides, e.g. depth=3,passes=8")
    p.add_argument("--jsonl", help="append every row to this file")
    args = p.parse_args()
    OVERRIDES.update(kv.split("=") for kv in args.s2s.split(",") if kv)
    import torch

    torch.manual_seed(0)
    rows = []
    for kind in args.sets.split(","):
        methods = getattr(args, f"{kind}_methods").split(",")
        for name in image_names(kind, None, args.part)[:args.images]:
            for method in methods:
                curve = kind == "bsd68" and method == "s2s" and name == args.curve_image
                row = cell(kind, name, method, args.budget, curve)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(row) + "\n")
    s2s = [r["psnr"] for r in rows if r["set"] == "bsd68" and r["method"] == "s2s"]
    if s2s:
        print(f"BSD68 sigma 25, s2s cpu preset, {args.budget:g} s: {np.mean(s2s):.2f} dB over "
              f"{len(s2s)} images; paper (150,000 steps on a GPU): {PAPER_BSD68_S25:.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
