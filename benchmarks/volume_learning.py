"""Why the 3-D network learns slowly: one fixed-step run of ``benchmarks/volume.py``'s setting
with one training choice changed (issue 14).

    flock /tmp/cpu.lock python benchmarks/volume_learning.py --volume blobs --method n2v \
        --dims 3 --steps 150 [--lr 1e-3] [--batch 4] [--depth 8] [--bn 0|1] \
        [--fraction 0.03] [--period 4] [--zperiod 4] [--init default|kaiming] \
        [--out docs/results/2026-12-02-volume-learning.txt]

Everything not given is what ``benchmarks/volume.py`` uses (depth-2 net, 8 channels, seed
0, 32-pixel Y/X windows, 3-D windows 16 planes deep, 2 per step, batch norm on in 3-D). The
line printed (and appended to ``--out``) holds the command, the resolved settings, the
voxels and scored voxels per step, and the PSNR of whole-volume prediction.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from volume import config, volumes

from napari_blind_denoise.core import TrainingSession, predict, run_to_completion
from napari_blind_denoise.core.metrics import psnr


def override(session: TrainingSession, args: argparse.Namespace) -> None:
    """Apply the changed choices to the session's resolved configuration."""
    cfg = session.config
    train = {k: v for k, v in (("learning_rate", args.lr), ("batch_size", args.batch),
                                ("patch_depth", args.depth)) if v is not None}
    model = {} if args.bn is None else {"batch_norm": bool(args.bn)}
    mask = {k: v for k, v in (("masked_fraction", args.fraction),
                              ("grid_period", args.period)) if v is not None}
    session.config = replace(cfg, train=replace(cfg.train, **train),
                             model=replace(cfg.model, **model), mask=replace(cfg.mask, **mask))


def kaiming(model: nn.Module, zero_head: bool = False) -> None:
    """He initialisation for LeakyReLU(0.1) on every convolution, zero biases; with
    ``zero_head`` the last 1x1 convolution starts at zero (a constant output)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    if zero_head:
        nn.init.zeros_(model.head.weight)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--volume", default="blobs")
    p.add_argument("--method", default="n2v")
    p.add_argument("--dims", type=int, default=3)
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch", type=int)
    p.add_argument("--depth", type=int)
    p.add_argument("--bn", type=int, choices=(0, 1))
    p.add_argument("--fraction", type=float)
    p.add_argument("--period", type=int)
    p.add_argument("--zperiod", type=int)
    p.add_argument("--init", default="default", choices=("default", "kaiming", "kaiming0"))
    p.add_argument("--seed", type=int, default=0, help="training seed (the noise stays seed 0)")
    p.add_argument("--out", type=Path)
    return p.parse_args()


def train_once(noisy: np.ndarray, args: argparse.Namespace):
    """The trained model and its validation masked MSE every 50 steps."""
    cfg = config(args.method, args.dims, args.steps)
    cfg = replace(cfg, train=replace(cfg.train, seed=args.seed))
    session = TrainingSession(noisy, "ZYX", cfg, device="cpu")
    override(session, args)
    if args.zperiod is not None:
        from napari_blind_denoise.core.masking import volume as vm
        vm.Z_PERIOD = args.zperiod
    if args.init != "default":
        setup = session._setup

        def patched():
            out = setup()
            kaiming(session.model, args.init == "kaiming0")
            return out

        session._setup = patched
    curve = []
    gen = session.run()
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            return stop.value, curve
        if ev.val_mse is not None and ev.step % 50 == 0:
            curve.append(f"{ev.val_mse:.4f}")


def report(args: argparse.Namespace, trained, curve, noisy, clean, out) -> str:
    """One result line: settings, voxels and scored voxels per step, PSNR."""
    rng = float(np.ptp(clean))
    c = trained.config
    t, m = c.train, c.mask
    window = (t.patch_depth if c.model.dims == 3 else 1) * t.patch_size ** 2
    scored = (round(m.masked_fraction * window) if m.kind == "n2v" else
              window // (m.grid_period ** 2 * (min(m.grid_period, args.zperiod or 4)
                                                if c.model.dims == 3 else 1)))
    return (f"{args.volume:8s} {args.method} dims={c.model.dims} steps={args.steps} "
            f"lr={t.learning_rate:g} batch={t.batch_size} depth={t.patch_depth} "
            f"bn={int(c.model.batch_norm)} init={args.init} frac={m.masked_fraction:g} "
            f"period={m.grid_period} voxels/step={t.batch_size * window} "
            f"scored/step={t.batch_size * scored}  noisy {psnr(noisy, clean, rng):.2f}  "
            f"PSNR {psnr(out, clean, rng):.2f} dB (planes 4..-4: "
            f"{psnr(out[4:-4], clean[4:-4], rng):.2f})  best_step {trained.info['best_step']} "
            f"seed={args.seed} val_mse/50 steps {','.join(curve)}")


def main() -> None:
    args = parse_args()
    clean, sigma = volumes()[args.volume]
    noisy = (clean + np.random.default_rng(0).normal(0, sigma, clean.shape)).astype(np.float32)
    trained, curve = train_once(noisy, args)
    out = run_to_completion(predict(trained, noisy, "ZYX", device="cpu"))
    line = report(args, trained, curve, noisy, clean, out)
    print(line, flush=True)
    if args.out is not None:
        cmd = "python benchmarks/volume_learning.py " + shlex.join(sys.argv[1:])
        when = time.strftime("%H:%M UTC", time.gmtime())
        with args.out.open("a") as f:
            f.write(f"# {cmd}  ({when}, torch {torch.__version__}, "
                    f"{torch.get_num_threads()} threads)\n{line}\n")


if __name__ == "__main__":
    main()
