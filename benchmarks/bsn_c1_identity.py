"""Fingerprint of one-channel bsn: fixed-seed training, losses, weights and outputs.

Run it with two versions of the code on ``PYTHONPATH`` and compare the JSON lines: equal
fingerprints mean the one-channel path is bit-identical (same per-step training losses,
same trained weights, same posterior/prior/posterior-std images, byte for byte). Used to
check that the multi-channel (Cholesky) prior left one channel unchanged
(docs/results/2026-12-02-bsn-cholesky.md).

Per noise model (``gaussian``, ``poisson-gaussian``, ``impulse``, ``gaussian`` with a known
sigma): 48² blobs plus Gaussian noise (std 30, seed 1), depth 2, base width 4, batch 2 of
32² windows, 6 steps, seed 0; prints one JSON line each. A few seconds each.

Run: ``python benchmarks/bsn_c1_identity.py``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import numpy as np

from napari_blind_denoise.core import (
    NoiseModelConfig,
    default_config,
    predict,
    run_to_completion,
)
from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.pipeline import apply_pipeline
from napari_blind_denoise.core.train import TrainingSession
from tests.conftest import make_blobs


def _sha(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()[:16]


def fingerprint(kind: str, sigma: float | None) -> dict:
    cfg = default_config("bsn", "cpu", noise_model=kind, steps=6, patch_size=32, batch_size=2,
                         val_every=3, val_patches=2)
    cfg = replace(cfg, model=ModelConfig(depth=2, base_channels=4))
    if sigma is not None:
        cfg = replace(cfg, noise_model=NoiseModelConfig(sigma=sigma))
    clean = make_blobs((48, 48), seed=3, n=12) * 400.0 + 100.0
    noisy = (clean + np.random.default_rng(1).normal(0, 30, clean.shape)).astype(np.float32)
    session = TrainingSession(noisy, "YX", cfg, device="cpu")
    gen = session.run()
    losses = []
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            trained = stop.value
            break
        if hasattr(event, "loss"):
            losses.append(float(event.loss))
    state = trained.model.state_dict()
    weights = hashlib.sha256(b"".join(state[k].detach().numpy().tobytes()
                                      for k in sorted(state))).hexdigest()[:16]
    result = run_to_completion(apply_pipeline(trained, noisy, "YX", device="cpu",
                                              outputs=trained.spec.outputs()))
    prior = run_to_completion(predict(trained, noisy, "YX", device="cpu", inference="prior"))
    return {"kind": kind, "sigma": sigma, "losses": losses, "weights": weights,
            "posterior": _sha(result.images["denoised"]), "prior": _sha(prior),
            "posterior_std": _sha(result.images["posterior_std"]),
            "noise_std": _sha(result.images["noise_std"])}


def main() -> None:
    for kind, sigma in (("gaussian", None), ("poisson-gaussian", None), ("impulse", None),
                        ("gaussian", 12.0)):
        print(json.dumps(fingerprint(kind, sigma)), flush=True)


if __name__ == "__main__":
    main()
