"""bsn's cpu preset and noise fit on W2S pairs: posterior and prior PSNR per configuration.

Run from the repository root (needs ../shared/data), under the shared CPU lock:

    flock /tmp/cpu.lock python benchmarks/bsn_preset.py --part tuning \
        --configs "16:64:16:3e-3:learn:0;8:64:16:3e-3:estimate:0" --jsonl rows.jsonl

Each configuration is ``batch:patch:base_channels:learning_rate:noise_fit:steps[:kind]``
(``kind``: the noise model, ``poisson-gaussian`` when left out, or ``gaussian``); steps 0
trains for ``--budget`` seconds instead (use fixed steps on a shared machine: the step
counts a quiet machine reaches in the budget). One bsn model per pair and configuration
(seed 0), predicted with ``posterior`` and ``prior``;
scale-and-offset-fitted PSNR (``run.py``'s metrics). The 2026-12-02 tuning rows
(docs/results/2026-12-02-bsn-cpu-tuning.jsonl) came from this script's first form, which
held the noise by patching ``prepare`` before ``--noise-fit`` existed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import image_names, load_pair, metrics


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", required=True, help="batch:patch:base:lr:fit:steps;...")
    p.add_argument("--images", type=int, default=3, help="pairs, spread over the part")
    p.add_argument("--budget", type=float, default=120.0, help="seconds, for steps 0")
    p.add_argument("--part", default="tuning", choices=("tuning", "report"))
    p.add_argument("--jsonl", help="append every row to this file")
    args = p.parse_args()
    import torch

    from napari_blind_denoise.core import default_config, predict, run_to_completion, train
    from napari_blind_denoise.core.methods.bayesian import noise_parameters

    for name in image_names("w2s", args.images, args.part):
        noisy, clean = load_pair("w2s", name)
        for spec in args.configs.split(";"):
            bs, ps, base, lr, fit, steps, *kind = spec.split(":")
            kind = kind[0] if kind else "poisson-gaussian"
            limits = ({"steps": int(steps)} if int(steps) else
                      {"steps": 10**9, "time_budget": args.budget})
            torch.manual_seed(0)
            cfg = default_config("bsn", "cpu", noise_model=kind, noise_fit=fit,
                                 batch_size=int(bs), patch_size=int(ps),
                                 learning_rate=float(lr), **limits)
            cfg = replace(cfg, model=replace(cfg.model, base_channels=int(base)))
            trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
            noise = noise_parameters(trained)[0]
            row = {"part": args.part, "image": name, "config": spec, "noise_model": kind,
                   "steps": trained.info["steps"],
                   "train_s": round(trained.info["train_seconds"], 1),
                   "noise": {k: round(v, 3) if isinstance(v, float) else v
                             for k, v in noise.items()}}
            for mode in ("posterior", "prior"):
                pred = run_to_completion(predict(trained, noisy, "YX", device="cpu",
                                                 inference=mode))
                row[mode] = round(metrics("w2s", pred, clean)[0], 3)
            print(json.dumps(row), flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
