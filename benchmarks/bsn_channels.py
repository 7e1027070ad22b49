"""bsn on two channels that share their structure: the joint prior (covariance through a
Cholesky factor) against a diagonal prior and against each channel denoised on its own
(docs/results/2026-12-02-bsn-cholesky.md).

Image: 64² blobs (``make_blobs(seed=3, n=10)``), channel 0 ``400 b + 100``, channel 1
``200 b + 50``, independent Gaussian noise per channel (std 30 and 20, seed 0). Runs, each
``STEPS`` steps, depth 2, base width 4, batch 4 of 32² windows, learning rate 1e-2, seed 0:

- ``joint``: ``CYX``, the full covariance (what bsn does now);
- ``diagonal``: ``CYX``, the same network with the factor's lower entries dropped (the prior
  sees both channels, the covariance between them is zero);
- ``separate``: each channel trained and denoised as a one-channel image (``STEPS`` each).

Prints one JSON line per run: PSNR (dB, against the clean image) of the noisy image, the prior
mean and the posterior mean per channel, the learned noise std per channel, the median
prior correlation between the channels (``joint``), training seconds.

Run (fixed steps; wrap in ``flock /tmp/cpu.lock``): ``python benchmarks/bsn_channels.py 150``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace

import numpy as np
import torch

from napari_blind_denoise.core import default_config, predict, psnr, run_to_completion, train
from napari_blind_denoise.core.config import ModelConfig
from napari_blind_denoise.core.methods.bayesian import noise_parameters
from napari_blind_denoise.core.nets import BlindSpotNet
from tests.conftest import make_blobs


def _image() -> tuple[np.ndarray, np.ndarray]:
    blob = make_blobs((64, 64), seed=3, n=10)
    clean = np.stack([blob * 400.0 + 100.0, blob * 200.0 + 50.0]).astype(np.float32)
    noise = np.random.default_rng(0).normal(0, 1, clean.shape) * np.array([30.0, 20.0])[
        :, None, None]
    return clean, (clean + noise).astype(np.float32)


def _psnr(image: np.ndarray, clean: np.ndarray) -> list[float]:
    """PSNR per channel (one value for a ``YX`` image), rounded to 0.01 dB."""
    pairs = zip(image, clean, strict=True) if image.ndim == 3 else [(image, clean)]
    return [round(psnr(a, b), 2) for a, b in pairs]


def _run(noisy: np.ndarray, clean: np.ndarray, axes: str, steps: int) -> dict:
    cfg = default_config("bsn", "cpu", steps=steps, patch_size=32, batch_size=4, val_every=25,
                         val_patches=4, learning_rate=1e-2)
    cfg = replace(cfg, model=ModelConfig(depth=2, base_channels=4))
    start = time.perf_counter()
    trained = run_to_completion(train(noisy, axes, cfg, device="cpu"))
    seconds = time.perf_counter() - start
    post = run_to_completion(predict(trained, noisy, axes, device="cpu"))
    prior = run_to_completion(predict(trained, noisy, axes, device="cpu", inference="prior"))
    out = {"psnr_noisy": _psnr(noisy, clean), "psnr_prior": _psnr(prior, clean),
           "psnr_posterior": _psnr(post, clean),
           "noise_sigma": [p["sigma"] for p in noise_parameters(trained)],
           "train_seconds": round(seconds, 1)}
    if noisy.ndim == 3:
        x = torch.from_numpy(trained.norm.normalize(noisy))[None]
        with torch.no_grad():
            tril = trained.model.net.prior(x).scale_tril
        cov = tril @ tril.mT
        corr = cov[..., 0, 1] / (cov[..., 0, 0] * cov[..., 1, 1]).sqrt()
        out["median_prior_correlation"] = float(corr.median())
    return out


def _diagonal_prior():
    """``BlindSpotNet.prior`` with the factor's entries below the diagonal dropped."""
    full = BlindSpotNet.prior

    def prior(self, x):
        p = full(self, x)
        if p.scale_tril is None:
            return p
        diag = torch.diag_embed(p.scale_tril.diagonal(dim1=-2, dim2=-1))
        return p._replace(scale_tril=diag, variance=diag.diagonal(dim1=-2, dim2=-1)
                          .square().permute(0, 3, 1, 2))

    return full, prior


def main(steps: int) -> None:
    clean, noisy = _image()
    print(json.dumps({"run": "joint", "steps": steps, **_run(noisy, clean, "CYX", steps)}),
          flush=True)
    full, diagonal = _diagonal_prior()
    BlindSpotNet.prior = diagonal
    try:
        print(json.dumps({"run": "diagonal", "steps": steps,
                          **_run(noisy, clean, "CYX", steps)}), flush=True)
    finally:
        BlindSpotNet.prior = full
    for c in range(2):
        print(json.dumps({"run": "separate", "channel": c, "steps": steps,
                          **_run(noisy[c], clean[c], "YX", steps)}), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
