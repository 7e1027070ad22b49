"""bsn's noise fits on a stack whose planes have different noise levels.

Run from the repository root (needs ../shared/data), under the shared CPU lock:

    flock /tmp/cpu.lock python benchmarks/bsn_noise_network.py --set w2s --part report \
        --fits learn,estimate,network --steps 500 --jsonl rows.jsonl

Six clean 256² crops become one ZYX stack, each plane with its own Gaussian noise (W2S:
the central crops of six ground-truth images of the part, sigma 3, 5, 8, 12, 18, 25 on
their 0-255 scale; BSD68: the top-left crops of test001-006 (tuning) or test007-012
(report), sigma 10, 15, 20, 30, 40, 50; noisy values rounded and clipped to 0-255). One
bsn model per noise fit (Gaussian noise model, cpu preset, seed 0, fixed steps) is trained
on the stack and predicts it with ``posterior`` and ``prior``; PSNR per plane against the
clean crop (peak 255). With ``network`` the row also has each plane's noise std from the
auxiliary network (whole plane). W2S parts: ``splits.py`` (fields 004 and 068 tune).

``--noise scanline``: each plane's Gaussian noise is first filtered along X by the
unit-energy 3-pixel box of ``core.noise.synthetic`` (the ``scanline`` kind: per-pixel std
still the plane's sigma, lag-1 correlation along X 0.67), then rounded and clipped as
above; bsn's blind spot is ``auto`` (widened to the measured correlation), recorded in
the row.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
W2S = {"tuning": ["004_0", "004_1", "004_2", "068_0", "068_1", "068_2"],
       "report": ["012_0", "012_1", "044_0", "044_2", "076_1", "076_2"]}
SIGMAS = {"w2s": [3, 5, 8, 12, 18, 25], "bsd68": [10, 15, 20, 30, 40, 50]}


def stack(name: str, part: str, noise: str = "white"
          ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Clean and noisy ``(6, 256, 256)`` stacks and the image names; ``noise`` ``white`` or
    ``scanline`` (correlated along X)."""
    from imageio.v3 import imread

    if name == "w2s":
        names = W2S[part]
        clean = [imread(DATA / "w2s_widefield_pairs" / "gt" / f"{n}.png")[128:384, 128:384]
                 for n in names]
    else:
        names = [f"test{i:03d}" for i in (range(1, 7) if part == "tuning" else range(7, 13))]
        clean = [imread(DATA / "bsd68_gray" / f"{n}.png")[:256, :256] for n in names]
    clean = np.stack(clean).astype(np.float32)
    rng = np.random.default_rng(0)
    draws = [rng.normal(0, s, c.shape) for c, s in zip(clean, SIGMAS[name], strict=True)]
    if noise == "scanline":
        from scipy.ndimage import correlate

        from napari_blind_denoise.core.noise.synthetic import noise_kernel

        box = noise_kernel("scanline", 3)
        draws = [correlate(d, box, mode="wrap") for d in draws]
    noisy = np.stack([np.clip(np.round(c + d), 0, 255)
                      for c, d in zip(clean, draws, strict=True)]).astype(np.float32)
    return clean, noisy, names


def per_plane_sigma(trained, noisy: np.ndarray) -> list[float]:
    """The auxiliary network's noise std for each whole plane, image units."""
    import torch

    noise = trained.model.noise_net.eval()
    low = float(trained.norm.low[0])
    scale = float(trained.norm.high[0]) - low
    x = torch.as_tensor((noisy[:, None] - low) / scale)
    with torch.no_grad():
        _, b = noise.params(x)
    return [round(float(v), 2) for v in b[:, 0].sqrt() * scale]


def report(path: str) -> str:
    """Per-plane table of a ``--jsonl`` file's three fits and the differences between them."""
    rows = {r["fit"]: r for r in map(json.loads, Path(path).read_text().splitlines())}
    fits = [f for f in ("learn", "estimate", "network") if f in rows]
    first = rows[fits[0]]
    lines = ["| plane (σ) | noisy | " + " | ".join(f"{f}: posterior / prior" for f in fits)
             + (" | per-image σ |" if "network" in rows else " |"),
             "|---|---|" + "---|" * (len(fits) + ("network" in rows))]
    for i, (img, sigma) in enumerate(zip(first["images"], first["sigmas"], strict=True)):
        cells = [f"{img} ({sigma})", str(first["noisy"][i])]
        cells += [f"{rows[f]['posterior'][i]} / {rows[f]['prior'][i]}" for f in fits]
        if "network" in rows:
            cells.append(str(rows["network"]["sigma_per_plane"][i]))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("| mean | | " + " | ".join(
        f"{rows[f]['mean_posterior']} / {rows[f]['mean_prior']}" for f in fits)
        + (" | |" if "network" in rows else " |"))
    for f in fits:
        r = rows[f]
        post = np.array(r["posterior"])
        lines.append(f"{f}: sigma {r['sigma_mean']}, blind spot {r.get('blind_spot')}, "
                     f"{r['steps']} steps, {r['train_s']} s; posterior - prior "
                     + ", ".join(f"{d:+.3f}" for d in post - np.array(r["prior"]))
                     + "; posterior - noisy "
                     + ", ".join(f"{d:+.3f}" for d in post - np.array(r["noisy"])))
        if f != "network" and "network" in rows:
            d = np.array(rows["network"]["posterior"]) - post
            lines.append(f"posterior network - {f}: mean {d.mean():+.3f}; "
                         + ", ".join(f"{x:+.3f}" for x in d))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", default="w2s", choices=("w2s", "bsd68"))
    p.add_argument("--part", default="tuning", choices=("tuning", "report"))
    p.add_argument("--fits", default="learn,estimate,network")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--noise", default="white", choices=("white", "scanline"))
    p.add_argument("--jsonl", help="append every row to this file")
    p.add_argument("--report", help="only print the table of a saved --jsonl file")
    args = p.parse_args()
    if args.report:
        print(report(args.report))
        return 0
    import torch

    from napari_blind_denoise.core import default_config, predict, psnr, run_to_completion, train
    from napari_blind_denoise.core.methods.bayesian import noise_parameters

    clean, noisy, names = stack(args.set, args.part, args.noise)
    noisy_psnr = [round(psnr(n, c, data_range=255), 3) for n, c in zip(noisy, clean, strict=True)]
    for fit in args.fits.split(","):
        torch.manual_seed(0)
        cfg = default_config("bsn", "cpu", steps=args.steps, noise_fit=fit)
        start = time.perf_counter()
        trained = run_to_completion(train(noisy, "ZYX", cfg, device="cpu"))
        row = {"set": args.set, "part": args.part, "noise": args.noise, "images": names,
               "fit": fit, "blind_spot": trained.config.mask.blind_spot,
               "steps": trained.info["steps"],
               "train_s": round(time.perf_counter() - start, 1),
               "sigmas": SIGMAS[args.set], "noisy": noisy_psnr}
        for mode in ("posterior", "prior"):
            out = run_to_completion(predict(trained, noisy, "ZYX", device="cpu", inference=mode))
            row[mode] = [round(psnr(o, c, data_range=255), 3)
                         for o, c in zip(np.asarray(out), clean, strict=True)]
            row[f"mean_{mode}"] = round(float(np.mean(row[mode])), 3)
        row["sigma_mean"] = round(noise_parameters(trained)[0]["sigma"], 2)
        if fit == "network":
            row["sigma_per_plane"] = per_plane_sigma(trained, noisy)
        print(json.dumps(row), flush=True)
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
