"""Probes of bsn's noise models at fixed small budgets (docs/results/2026-12-02-bsn-noise.md).

``impulse``: 48² blobs (``make_blobs(seed=3, n=8) * 400 + 100``), 30 % of the pixels
replaced by values uniform over the clean range, no Gaussian noise; prints the learned
parameters and the PSNR of the noisy image, the prior mean and the posterior mean.
``pg``: a 48² ramp 100…1200 with Poisson-Gaussian noise of variance ``2 x + 400``; prints
the learned ``a, b`` (image units). Both: depth 2, base width 4, batch 4 of 32² windows,
learning rate 1e-2, seed 0.

Run (fixed steps; wrap in ``flock /tmp/cpu.lock``): ``python benchmarks/bsn_noise_probe.py
impulse 120`` or ``... pg 300``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np

from napari_blind_denoise.core import default_config, predict, psnr, run_to_completion, train
from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.methods.bayesian import noise_parameters
from tests.conftest import make_blobs


def _config(kind: str, steps: int):
    cfg = default_config("bsn", "cpu", noise_model=kind, steps=steps, patch_size=32,
                         batch_size=4, val_every=25, val_patches=4, learning_rate=1e-2)
    return replace(cfg, model=ModelConfig(depth=2, base_channels=4))


def impulse(steps: int) -> dict:
    clean = make_blobs((48, 48), seed=3, n=8) * 400.0 + 100.0
    rng = np.random.default_rng(0)
    noisy = clean.copy()
    hit = rng.random(clean.shape) < 0.3
    noisy[hit] = rng.uniform(clean.min(), clean.max(), hit.sum())
    noisy = noisy.astype(np.float32)
    trained = run_to_completion(train(noisy, "YX", _config("impulse", steps), device="cpu"))
    post = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    prior = run_to_completion(predict(trained, noisy, "YX", device="cpu", inference="prior"))
    return {"true_alpha": float(hit.mean()), "learned": noise_parameters(trained),
            "psnr_noisy": psnr(noisy, clean), "psnr_prior": psnr(prior, clean),
            "psnr_posterior": psnr(post, clean)}


def poisson_gaussian(steps: int) -> dict:
    clean = np.repeat(np.linspace(100.0, 1200.0, 48), 48).reshape(48, 48).T
    noisy = (clean + np.random.default_rng(0).normal(0, 1, clean.shape)
             * np.sqrt(2.0 * clean + 400.0)).astype(np.float32)
    cfg = _config("poisson-gaussian", steps)
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    return {"true_a": 2.0, "true_b": 400.0, "learned": noise_parameters(trained)}


if __name__ == "__main__":
    which, n = sys.argv[1], int(sys.argv[2])
    t0 = time.perf_counter()
    out = impulse(n) if which == "impulse" else poisson_gaussian(n)
    print(json.dumps({"probe": which, "steps": n, **out,
                      "seconds": round(time.perf_counter() - t0, 1)}))
