"""3-D networks against plane-by-plane 2-D ones on ZYX volumes, and 3-D prediction speed.

    flock /tmp/cpu.lock python benchmarks/volume.py [--steps 150] [--out FILE]
        [--volumes blobs stardist] [--methods n2v n2s nnet]   # these rows only, no throughput

Volumes (clean, with synthetic Gaussian noise added, seed 0):

- ``blobs``: 32x64x64 synthetic, a sum of 3-D Gaussian blobs (the signal varies along Z as
  along Y and X), noise sigma 8 % of the blob amplitude;
- ``stardist``: ``../shared/data/stardist_nuclei_clean/img3d.tif`` (31x61x57 synthetic
  nuclei, the only clean 3-D volume there), noise sigma 10 % of its range.

Each method (n2v, n2s; nnet with ``--methods nnet``) trains ``--steps`` steps as a 2-D
network (``dims=2``, every Z plane a sample) and as a 3-D one (``dims=3``), same network
size (depth 2, 8 base channels), same seed, 32-pixel Y/X windows (3-D: 16 planes deep,
the batch the 3-D resolution gives); the row "3-D, no BN" is the 3-D network without batch
normalisation. PSNR against the clean volume (its range as the peak) after whole-volume prediction.
``nnet`` rows add the learned noise std (calibrated N-net) against the true sigma: the
median over the volume of its noise std output (the N-net at the denoised signal), for the
2-D and the 3-D model.

Throughput: the CPU preset's 3-D n2v network (depth 2, 16 channels; weights after a few
steps, speed does not depend on them) predicts a 64x256x256 volume with the default tiling
(MVox/s, the prediction's own seconds), next to the 2-D network predicting the same
volume plane by plane, and careamics 0.3.5's figure from issue 14 (0.07 MVox/s on a 3-D
stack, 7.2 GiB peak, 2 CPU cores; not measured here) next to the 3-D network's default
tiling.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from napari_blind_denoise.core import (
    ModelConfig,
    TileConfig,
    TrainingSession,
    predict,
    run_to_completion,
)
from napari_blind_denoise.core.methods import default_config
from napari_blind_denoise.core.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
CAREAMICS_MVOX = 0.07  # careamics 0.3.5, 3-D stack, 2 CPU cores (issue 14; not run here)
STARDIST = ROOT.parent / "shared" / "data" / "stardist_nuclei_clean" / "img3d.tif"


def blobs(shape=(32, 64, 64), seed: int = 0, n: int = 16) -> np.ndarray:
    """Clean synthetic volume: 3-D Gaussian blobs, amplitude ~1 on an offset of 0.25."""
    rng = np.random.default_rng(seed)
    d, h, w = shape
    zz, yy, xx = np.mgrid[0:d, 0:h, 0:w].astype(np.float32)
    clean = np.full(shape, 0.25, np.float32)
    for _ in range(n):
        c = rng.uniform(0, 1, 3) * np.array(shape)
        s = rng.uniform(0.08, 0.16) * min(h, w)
        r2 = (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        clean += rng.uniform(0.5, 1.0) * np.exp(-r2 / (2 * s * s))
    return clean


def volumes() -> dict[str, tuple[np.ndarray, float]]:
    """name -> (clean volume, noise sigma)."""
    out = {"blobs": (blobs(), 0.08)}
    if STARDIST.exists():
        import tifffile

        clean = tifffile.imread(STARDIST).astype(np.float32)
        out["stardist"] = (clean, 0.1 * float(np.ptp(clean)))
    else:
        print(f"# {STARDIST} not found: stardist volume skipped", file=sys.stderr)
    return out


def config(method: str, dims: int, steps: int, batch_norm: bool | None = None):
    cfg = default_config(method, "cpu", steps=steps, patch_size=32, patch_depth=16,
                         val_every=50, seed=0)
    model = replace(cfg.model, base_channels=8, dims=dims)
    if batch_norm is not None:
        model = replace(model, batch_norm=batch_norm)
    return replace(cfg, model=model)


def run(noisy: np.ndarray, clean: np.ndarray, cfg, no_bn: bool = False):
    session = TrainingSession(noisy, "ZYX", cfg, device="cpu")
    if no_bn:  # the resolved 3-D configuration, without batch normalisation
        model = replace(session.config.model, batch_norm=False)
        session.config = replace(session.config, model=model)
    t0 = time.perf_counter()
    trained = run_to_completion(session.run())
    seconds = time.perf_counter() - t0
    out = run_to_completion(predict(trained, noisy, "ZYX", device="cpu"))
    rng = float(np.ptp(clean))
    return psnr(out, clean, rng), seconds, trained, out


def learned_std(trained, denoised: np.ndarray) -> float:
    """Median over the volume of the noise std output of an ``nnet`` model."""
    from napari_blind_denoise.core.noise.model import predict_noise_std

    return float(np.median(run_to_completion(predict_noise_std(trained, denoised, "ZYX"))))


def quality(steps: int, only: list[str] | None = None, methods=("n2v", "n2s")) -> list[str]:
    lines = [f"# PSNR (dB) after {steps} steps, whole-volume prediction; s/step: training "
             "seconds (with nnet's calibration) / steps",
             "volume    method  noisy   2-D     3-D     3-D-2-D  s/step 2-D  s/step 3-D"]
    for name, (clean, sigma) in volumes().items():
        if only and name not in only:
            continue
        noisy = (clean + np.random.default_rng(0).normal(0, sigma, clean.shape)
                 ).astype(np.float32)
        base = psnr(noisy, clean, float(np.ptp(clean)))
        for method in methods:
            p2, s2, t2, d2 = run(noisy, clean, config(method, 2, steps))
            p3, s3, t3, d3 = run(noisy, clean, config(method, 3, steps))
            lines.append(f"{name:9s} {method:6s}  {base:6.2f}  {p2:6.2f}  {p3:6.2f}  "
                         f"{p3 - p2:+7.2f}  {s2 / steps:10.3f}  {s3 / steps:10.3f}")
            print(lines[-1], flush=True)
            if t3.spec.noise_model:
                lines.append(_noise_line(name, method, sigma, (t2, d2), (t3, d3)))
                print(lines[-1], flush=True)
        if name == "blobs" and not only:
            p3n, s3n, *_ = run(noisy, clean, config("n2v", 3, steps), no_bn=True)
            lines.append(f"{name:9s} n2v 3-D, no BN: {p3n:6.2f} dB ({s3n / steps:.3f} s/step); "
                         f"3-D windows {t3.config.train.patch_depth}x32x32, "
                         f"{t3.config.train.batch_size} per step (2-D: 16 of 32x32)")
            print(lines[-1], flush=True)
    return lines


def _noise_line(name: str, method: str, sigma: float, run2, run3) -> str:
    """The learned noise std of the 2-D and 3-D models (each ``(trained, denoised)``)
    against the true sigma, and the calibration's factors."""
    s2, s3 = learned_std(*run2), learned_std(*run3)
    cal = [r[0].info.get("noise_correction") for r in (run2, run3)]
    factors = " / ".join("-" if c is None else
                         f"{np.min(c['factor']):.2f}-{np.max(c['factor']):.2f}" for c in cal)
    return (f"{name:9s} {method} noise std (median of the noise std map): true {sigma:.4g}, "
            f"2-D {s2:.4g} ({s2 / sigma - 1:+.0%}), 3-D {s3:.4g} ({s3 / sigma - 1:+.0%}); "
            f"calibration std factors 2-D / 3-D: {factors}")


def throughput(tiles: tuple[int, ...] = (512,)) -> list[str]:
    vol = blobs((64, 256, 256), seed=1)
    vol = (vol + np.random.default_rng(1).normal(0, 0.08, vol.shape)).astype(np.float32)
    lines = ["# prediction throughput, 64x256x256 float32 volume, CPU preset network "
             "(depth 2, 16 channels), default tiling"]
    for dims in (3, 2):
        cfg = default_config("n2v", "cpu", steps=3, patch_size=32, val_every=3)
        cfg = replace(cfg, model=ModelConfig(depth=2, base_channels=16, dims=dims))
        trained = run_to_completion(TrainingSession(vol, "ZYX", cfg, device="cpu").run())
        for size in tiles if dims == 3 else (512,):
            line, rate = _timed(trained, vol, size, dims)
            lines.append(line)
            print(lines[-1], flush=True)
            if dims == 3 and size == tiles[0]:
                first = (size, rate)
    lines.append(f"careamics 0.3.5 (issue 14's figure, not measured here): {CAREAMICS_MVOX} "
                 "MVox/s on a 3-D stack, 7.2 GiB peak, 2 CPU cores; ours (3-D network, "
                 f"blocks of {first[0]} px): {first[1]:.3f} MVox/s = "
                 f"{first[1] / CAREAMICS_MVOX:.1f}x")
    print(lines[-1], flush=True)
    return lines


def _timed(trained, vol, size: int, dims: int) -> tuple[str, float]:
    """One timed prediction of ``vol`` with tiles of edge ``size``, as a table line."""
    t0 = time.perf_counter()
    tile = TileConfig(tile_size=size, overlap=min(TileConfig().overlap, size // 4))
    gen = predict(trained, vol, "ZYX", device="cpu", tile=tile)
    n_tiles = plan = None
    while True:
        try:
            ev = next(gen)
            n_tiles, plan = ev.n_tiles, ev.memory
        except StopIteration:
            break
    seconds = time.perf_counter() - t0
    what = "3-D network, blocks" if dims == 3 else "2-D network, plane by plane, tiles"
    rate = vol.size / seconds / 1e6
    return (f"{what} of {plan.tile_size} px ({n_tiles} tiles): {seconds:.1f} s, "
            f"{rate:.3f} MVox/s"), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--volumes", nargs="*", default=None,
                        help="only these volumes (blobs, stardist), quality only")
    parser.add_argument("--methods", nargs="*", default=["n2v", "n2s"])
    parser.add_argument("--throughput-only", action="store_true",
                        help="only the prediction throughput")
    parser.add_argument("--tiles", default="512",
                        help="3-D block edges to time, comma-separated (default 512)")
    args = parser.parse_args()
    import torch

    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = [f"# benchmarks/volume.py --steps {args.steps}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, {when}"]
    lines = head if args.throughput_only else head + quality(args.steps, args.volumes,
                                                              args.methods)
    if not args.volumes:
        lines += throughput(tuple(int(t) for t in args.tiles.split(",")))
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
