"""The Bayesian blind-spot network (bsn): posterior mean against prior mean ("no Bayes") and
against n2s / nnet, at one wall-clock training budget per model.

Run from the repository root (needs ../shared/data), under the shared CPU lock:

    flock /tmp/cpu.lock python benchmarks/bayesian.py --budget 120 \
        --jsonl docs/results/2026-12-01-bayesian.jsonl

- ``w2s``: the first ``--images`` noisy/ground-truth pairs of the report part (not the
  pairs the defaults were tuned on) of
  ../shared/data/w2s_widefield_pairs (real widefield fluorescence), scale-and-offset-fitted
  PSNR/SSIM (``benchmarks/run.py``'s loaders and metrics). bsn learns a Poisson-Gaussian
  noise model there.
- ``bsd68``: the first ``--images`` images of ../shared/data/bsd68_gray with Gaussian noise
  sigma 25 (``run.py``'s seeded noise), rounded and clipped to 8 bits; peak-255 PSNR/SSIM.
  bsn learns sigma (unknown-sigma Gaussian).
- ``bsd68p``: the same images with Poisson noise of peak 30 (``y = Poisson(30 x / 255) *
  255 / 30``, seeded), bsn with a learned Poisson-Gaussian model.
- ``bsd68i``: the same images with impulse noise, ``alpha`` = 0.5 (half the pixels, chosen
  at random, replaced by values uniform in 0..255, seeded), bsn with the impulse model.

``--steps bsn=240,n2s=1250`` trains a fixed number of steps per method instead of the
wall-clock budget (the quality does not then depend on the machine's load; take the step
counts a quiet machine reached in the budget, and say so).

Every bsn model is trained once and predicted twice (``posterior`` and ``prior``): two rows
with the same ``train_s``. Each row also records the learned noise parameters. The paper's
figures (Laine et al. 2019; Kodak, sigma 25, a GPU-sized network trained for days) are printed
next to the means for reference: they are not the same images, network or budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# idle OpenMP workers sleep instead of spinning (tests/conftest.py): 5-10x on a busy machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import image_names, load_pair, metrics

# the summary of the paper (Kodak, Gaussian sigma 25)
PAPER_NOTE = ("paper (Laine et al. 2019), Kodak, sigma 25: posterior 31.56 dB, supervised "
              "31.60 dB, no-Bayes about 2 dB lower")
NOISE = {"w2s": "poisson-gaussian", "bsd68": "gaussian", "bsd68p": "poisson-gaussian",
         "bsd68i": "impulse"}
PEAK = 30.0
ALPHA = 0.5


def noisy_clean(kind: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``run.py``'s pair; BSD68 quantised to 8 bits; ``bsd68p``: Poisson noise, peak 30."""
    if kind == "bsd68p":
        _, clean = load_pair("bsd68", name)
        rng = np.random.default_rng(100 + int(name[-3:]))
        noisy = rng.poisson(clean * PEAK / 255.0) * (255.0 / PEAK)
        return noisy.astype(np.float32), clean
    if kind == "bsd68i":
        _, clean = load_pair("bsd68", name)
        rng = np.random.default_rng(200 + int(name[-3:]))
        hit = rng.random(clean.shape) < ALPHA
        noisy = np.where(hit, rng.uniform(0.0, 255.0, clean.shape), clean)
        return noisy.astype(np.float32), clean
    noisy, clean = load_pair(kind, name)
    if kind == "bsd68":
        noisy = np.clip(np.round(noisy), 0, 255).astype(np.uint8).astype(np.float32)
    return noisy, clean


def _score_kind(kind: str) -> str:
    return "bsd68" if kind.startswith("bsd68") else kind


def trained_rows(kind: str, name: str, method: str, budget: float,
                 steps: int | None = None) -> list[dict]:
    """Train ``method`` (cpu preset) for ``budget`` s (or ``steps`` steps); one row per
    inference mode (bsn: two)."""
    from napari_blind_denoise.core import default_config, predict, run_to_completion, train

    noisy, clean = noisy_clean(kind, name)
    noise = NOISE[kind] if method == "bsn" else None
    limits = {"steps": steps} if steps else {"time_budget": budget, "steps": 10**9}
    config = default_config(method, "cpu", noise_model=noise, **limits)
    trained = run_to_completion(train(noisy, "YX", config, device="cpu"))
    base = {"set": kind, "image": name, "budget_s": None if steps else budget,
            "steps": trained.info["steps"],
            "train_s": trained.info["train_seconds"],
            "blind_spot": trained.config.mask.blind_spot}
    if method == "bsn":
        from napari_blind_denoise.core.methods.bayesian import noise_parameters

        base["noise_model"] = noise
        base["noise"] = {k: (round(v, 4) if isinstance(v, float) else v)
                         for k, v in noise_parameters(trained)[0].items()}
    modes = ("posterior", "prior") if method == "bsn" else (None,)
    rows = []
    for mode in modes:
        t0 = time.perf_counter()
        pred = run_to_completion(predict(trained, noisy, "YX", device="cpu", inference=mode))
        p, s = metrics(_score_kind(kind), pred, clean)
        label = f"bsn-{mode}" if mode else method
        rows.append({**base, "method": label, "psnr": round(p, 3), "ssim": round(s, 4),
                     "predict_s": round(time.perf_counter() - t0, 2)})
    return rows


def summary(rows: list[dict]) -> str:
    """Mean PSNR per (set, method), with the paper's reference line."""
    lines = []
    for kind in dict.fromkeys(r["set"] for r in rows):
        means = {}
        for method in dict.fromkeys(r["method"] for r in rows if r["set"] == kind):
            vals = [r["psnr"] for r in rows if r["set"] == kind and r["method"] == method]
            means[method] = np.mean(vals)
        cells = ", ".join(f"{m} {v:.2f}" for m, v in means.items())
        lines.append(f"{kind} (mean PSNR over {len(vals)} images): {cells}")
        if "bsn-posterior" in means and "bsn-prior" in means:
            gap = means["bsn-posterior"] - means["bsn-prior"]
            lines.append(f"  posterior - prior: {gap:+.2f} dB")
    lines.append(PAPER_NOTE)
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    p.add_argument("--images", type=int, default=3, help="images per set")
    p.add_argument("--sets", default="w2s,bsd68,bsd68p,bsd68i")
    p.add_argument("--w2s-methods", default="bsn,n2s,nnet")
    p.add_argument("--bsd68-methods", default="bsn,n2s")
    p.add_argument("--bsd68p-methods", default="bsn")
    p.add_argument("--bsd68i-methods", default="bsn")
    p.add_argument("--steps", help="fixed steps per method instead of --budget, e.g. "
                   "bsn=240,n2s=1250,nnet=1250")
    p.add_argument("--jsonl", help="append every row to this file")
    args = p.parse_args()
    import torch

    torch.manual_seed(0)
    pairs = [x.split("=") for x in args.steps.split(",")] if args.steps else []
    steps = {m: int(n) for m, n in pairs}
    rows = []
    for kind in args.sets.split(","):
        methods = getattr(args, f"{kind}_methods").split(",")
        for name in image_names(_score_kind(kind), None, "report")[:args.images]:
            for method in methods:
                for row in trained_rows(kind, name, method, args.budget,
                                        steps.get(method)):
                    rows.append(row)
                    print(json.dumps(row), flush=True)
                    if args.jsonl:
                        with open(args.jsonl, "a") as f:
                            f.write(json.dumps(row) + "\n")
    print(summary(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
