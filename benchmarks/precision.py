"""Mixed-precision inference against float32, on the embedded sample.

The issue on data safety and GPU faults asked that inference under float16 autocast not
round the output to float16, and that the difference be measured on the sample. The UNet
runs its last 1x1 convolution and the residual sum in float32 outside autocast
(``core/nets/unet.py``). No GPU here: CPU autocast in float16 (and bfloat16) stands in for
CUDA's. The same n2v model (fixed steps, seed 0) predicts the sample:

- ``float32``: no autocast (what the CPU and MPS paths run);
- ``<dtype> autocast``: the network under autocast, the head in float32 (the package);
- ``<dtype> autocast, output rounded``: the same with the output rounded to ``<dtype>``,
  what a head under autocast would return (before the change).

PSNR against the clean sample (data range of the clean image) and the largest absolute
difference from float32 in the image's intensity units:

    python benchmarks/precision.py --steps 300 | tee docs/results/2026-12-02-precision.txt
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def predict_with(trained, noisy: np.ndarray, dtype: torch.dtype | None, rounded: bool
                 ) -> np.ndarray:
    """The whole image through the model (no tiling), normalised as the package does."""
    x = torch.from_numpy(trained.norm.normalize(noisy[None].astype(np.float32)))[None]
    model = trained.model.eval()
    with torch.inference_mode():
        if dtype is None:
            y = model(x)
        else:
            with torch.autocast("cpu", dtype=dtype):
                y = model(x)
            if rounded:
                y = y.to(dtype).float()
    return trained.norm.denormalize(y[0].float().numpy())[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    args = ap.parse_args()
    from napari_blind_denoise.core import default_config, psnr, run_to_completion, train
    from napari_blind_denoise.sample_data import load_sample

    noisy, clean = load_sample()
    cfg = default_config("n2v", "cpu", steps=args.steps, seed=0)
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    rng = float(clean.max() - clean.min())
    ref = predict_with(trained, noisy, None, False)
    print(f"n2v, {args.steps} steps, sample {noisy.shape}, noisy PSNR "
          f"{psnr(noisy, clean, data_range=rng):.3f} dB\n")
    print("| inference | PSNR (dB) | max abs diff from float32 | mean abs diff |")
    print("|---|---|---|---|")
    print(f"| float32 | {psnr(ref, clean, data_range=rng):.3f} | 0 | 0 |")
    for dtype, name in ((torch.float16, "float16"), (torch.bfloat16, "bfloat16")):
        for rounded in (False, True):
            out = predict_with(trained, noisy, dtype, rounded)
            label = f"{name} autocast" + (", output rounded" if rounded else ", float32 head")
            d = np.abs(out.astype(np.float64) - ref)
            print(f"| {label} | {psnr(out, clean, data_range=rng):.3f} | {d.max():.4g} | "
                  f"{d.mean():.4g} |")
    print(f"\nimage intensity range {noisy.min():.1f} .. {noisy.max():.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
