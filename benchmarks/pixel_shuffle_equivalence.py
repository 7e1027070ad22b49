"""The script-only ``PixelShuffleN2S`` that measured pixel shuffle (commit ef958e3's
``benchmarks/pixel_shuffle.py``) against the package option ``downsample=3``: the same
windows, training and prediction on the tuning image, so the figures it measured hold for the
option. Run from the repository root (needs ../shared/data and git):

    git show ef958e3:benchmarks/pixel_shuffle.py > /tmp/old_pixel_shuffle.py
    python benchmarks/pixel_shuffle_equivalence.py 3 /tmp
"""

import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, sys.argv[2])

from old_pixel_shuffle import PixelShuffleN2S
from run import load_pair

from napari_blind_denoise.core import (
    TrainingSession,
    default_config,
    predict,
    register,
    run_to_completion,
    unregister,
)


def train_and_predict(noisy, cfg):
    """The kept model and its full-resolution prediction."""
    trained = run_to_completion(TrainingSession(noisy, "YX", cfg, device="cpu").run())
    return trained, run_to_completion(predict(trained, noisy, "YX", device="cpu"))


def main() -> int:
    """Train both for ``argv[1]`` steps; print whether weights and predictions match."""
    noisy, _ = load_pair("hela-scan", "hela_c1")
    base = default_config("n2s", "cpu", steps=int(sys.argv[1]))
    t0 = time.time()
    # the script's class with the windows the script set (16 windows of 64 px -> 7 of 96)
    script = PixelShuffleN2S(3)
    register(script)
    try:
        old, old_pred = train_and_predict(noisy, replace(
            base, method=script.id, train=replace(base.train, patch_size=96, batch_size=7)))
    finally:
        unregister(script.id)
    new, new_pred = train_and_predict(noisy, replace(base, mask=replace(base.mask,
                                                                        downsample=3)))
    print("image", noisy.shape, "steps", old.info["steps"], new.info["steps"])
    print("script ", old.config.train.patch_size, old.config.train.batch_size, old.config.mask)
    print("package", new.config.train.patch_size, new.config.train.batch_size, new.config.mask)
    sd_old, sd_new = old.model.state_dict(), new.model.state_dict()
    print("weights identical:", all(torch.equal(sd_old[k], sd_new[k]) for k in sd_old))
    print("max |prediction difference|:", float(np.abs(old_pred - new_pred).max()),
          "prediction range", float(new_pred.min()), float(new_pred.max()))
    print("seconds", round(time.time() - t0, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
