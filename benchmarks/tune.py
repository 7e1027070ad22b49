"""Fixed-step variant comparisons on one W2S pair (the tuning log in docs/benchmarks.md).

    python benchmarks/tune.py 004_0 400 base,nores+m10,nores+n2s

Each variant is ``+``-joined changes to the N2V CPU preset (see ``VARIANTS``); prints one JSON
line per variant with the scale-fitted PSNR/SSIM and the step whose model was kept. Step
counts are fixed, so CPU contention changes seconds, not quality. Tune on the W2S tuning part
only (``benchmarks/splits.py``): a pair from the report part is refused.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from splits import w2s_part

from napari_blind_denoise.core import (
    DenoiseConfig,
    MaskConfig,
    default_config,
    predict,
    run_to_completion,
    score,
    train,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "w2s_widefield_pairs"
PAIRS = sorted(p.stem for p in (DATA / "noisy").glob("*.png"))
R = dataclasses.replace
VARIANTS = {  # name -> (model, train, mask) -> (model, train, mask)
    "base": lambda m, t, k: (m, t, k),
    "res": lambda m, t, k: (R(m, residual=True), t, k),
    "nores": lambda m, t, k: (R(m, residual=False), t, k),
    "bn": lambda m, t, k: (R(m, batch_norm=True), t, k),
    "d3": lambda m, t, k: (R(m, depth=3), t, k),
    "c24": lambda m, t, k: (R(m, base_channels=24), t, k),
    "lr2": lambda m, t, k: (m, R(t, learning_rate=2e-3), k),
    "lr5": lambda m, t, k: (m, R(t, learning_rate=5e-3), k),
    "noaug": lambda m, t, k: (m, R(t, augment=False), k),
    "ema": lambda m, t, k: (m, R(t, ema_decay=0.995), k),
    "minval": lambda m, t, k: (m, R(t, select_tolerance=0.0), k),
    "m1": lambda m, t, k: (m, t, R(k, masked_fraction=0.01)),
    "m10": lambda m, t, k: (m, t, R(k, masked_fraction=0.10)),
    "r1": lambda m, t, k: (m, t, R(k, neighbourhood_radius=1)),
    "n2s": lambda m, t, k: (m, t, MaskConfig(kind="n2s", grid_period=4)),
    "n2s3": lambda m, t, k: (m, t, MaskConfig(kind="n2s", grid_period=3)),
}


def config_for(variant: str, steps: int) -> DenoiseConfig:
    """The N2V CPU preset with the ``+``-joined changes of ``variant``."""
    c = default_config("n2v", "cpu", steps=steps)
    m, t, k = c.model, c.train, c.mask
    for v in variant.split("+"):
        m, t, k = VARIANTS[v](m, t, k)
    return DenoiseConfig(method=k.kind, mask=k, model=m, train=t)


def main() -> int:
    """Command-line entry."""
    import imageio.v3 as iio

    name, steps = sys.argv[1], int(sys.argv[2])
    if not w2s_part([name], "tuning"):
        print(f"{name} is in the W2S report part; tune on {w2s_part(PAIRS, 'tuning')}",
              file=sys.stderr)
        return 2
    noisy = iio.imread(DATA / "noisy" / f"{name}.png").astype(np.float32)
    clean = iio.imread(DATA / "gt" / f"{name}.png").astype(np.float32)
    for variant in sys.argv[3].split(","):
        t0 = time.perf_counter()
        trained = run_to_completion(train(noisy, "YX", config_for(variant, steps)))
        seconds = time.perf_counter() - t0
        s = score(run_to_completion(predict(trained, noisy, "YX")), clean)
        print(json.dumps({"image": name, "variant": variant, "steps": steps,
                          "psnr_fit": round(s["psnr_fit"], 3), "ssim_fit": round(s["ssim_fit"], 4),
                          "kept_step": trained.info["best_step"], "seconds": round(seconds, 1)}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
