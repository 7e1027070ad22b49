"""N-net (``nnet``) against the same D-net trained with plain masked L2 (``n2s``).

Both use the same grid masking, UNet, step budget and seed; only the loss differs (masked
NLL under a learned noise model vs masked MSE). Run from the repository root (needs
../shared/data):

    python benchmarks/nnet_vs_n2s.py --steps 700 --w2s 3 --synthetic 2      # the docs run
    python benchmarks/nnet_vs_n2s.py --steps 20 --w2s 1 --synthetic 1 --evals 2 --size 128

Image sets: W2S real widefield pairs (scored after a least-squares scale-and-offset fit to
the 400-frame average, as in ``benchmarks/run.py``) and a synthetic Poisson-Gaussian set
(clean StarDist nuclei / HeLa nuclei channel, peak 30 photons + Gaussian read noise of 2 %
of the range, scored raw). The current weights are scored ``--evals`` times during training
(PSNR against steps, saved as a plot); the table reports the kept model at the end.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PLOT = Path(__file__).resolve().parents[1] / "docs" / "images" / "nnet_vs_n2s.png"


def w2s_pairs(n: int, size: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``n`` W2S (name, noisy, clean) pairs spread over the folder, cropped to ``size``."""
    import imageio.v3 as iio

    names = sorted(p.stem for p in (DATA / "w2s_widefield_pairs" / "noisy").glob("*.png"))
    idx = np.linspace(0, len(names) - 1, n).round().astype(int) if n else []
    out = []
    for i in idx:
        noisy = iio.imread(DATA / "w2s_widefield_pairs" / "noisy" / f"{names[i]}.png")
        clean = iio.imread(DATA / "w2s_widefield_pairs" / "gt" / f"{names[i]}.png")
        out.append((f"w2s {names[i]}", noisy[:size, :size].astype(np.float32),
                    clean[:size, :size].astype(np.float32)))
    return out


def synthetic(n: int, size: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Poisson-Gaussian noise (peak 30, read noise 2 %) on up to two clean images."""
    import tifffile

    from napari_blind_denoise.core import add_noise

    sources = [("nuclei", tifffile.imread(DATA / "stardist_nuclei_clean" / "img2d.tif")),
               ("hela-c2", tifffile.imread(DATA / "fiji_hela_cells_clean" /
                                           "hela_cells_CYX.tif")[2])]
    out = []
    for k, (name, img) in enumerate(sources[:n]):
        clean = img[:size, :size].astype(np.float32)
        noisy = add_noise(clean, "poisson-gaussian", seed=10 + k, peak=30.0, sigma=0.02)
        out.append((f"pg {name}", noisy, clean))
    return out


def quality(pred: np.ndarray, clean: np.ndarray, fitted: bool) -> tuple[float, float]:
    """(PSNR, SSIM): after an affine fit for W2S, raw for the synthetic set."""
    from napari_blind_denoise.core.metrics import score

    s = score(pred, clean)
    return (s["psnr_fit"], s["ssim_fit"]) if fitted else (s["psnr"], s["ssim"])


def denoise_with(model, session) -> np.ndarray:
    """Predict the session's image with a copy of ``model`` (the current weights)."""
    from napari_blind_denoise.core import TrainedModel, predict, run_to_completion

    trained = TrainedModel(copy.deepcopy(model).eval(), session.config, session.norm,
                           session.layout.axes)
    return run_to_completion(predict(trained, session.data, "YX", device="cpu"))


def run_one(method: str, kind: str | None, noisy, clean, args) -> dict:
    """Train one model, scoring the current weights at ``--evals`` points."""
    from napari_blind_denoise.core import TrainingSession, default_config, predict
    from napari_blind_denoise.core.train import run_to_completion

    cfg = default_config(method, "cpu", steps=args.steps, seed=args.seed,
                         **({"noise_model": kind} if kind else {}))
    session = TrainingSession(noisy, "YX", cfg, device="cpu")
    fitted = args.current.startswith("w2s")
    marks = set(np.linspace(0, args.steps, args.evals + 1).round().astype(int)[1:-1])
    curve, gen = [], session.run()
    while True:
        try:
            ev = next(gen)
        except StopIteration as stop:
            trained = stop.value
            break
        if ev.step in marks:
            curve.append((ev.step, quality(denoise_with(session.model, session), clean,
                                           fitted)[0]))
    pred = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    p, s = quality(pred, clean, fitted)
    curve.append((trained.info["steps"], p))
    return {"psnr": p, "ssim": s, "train_s": trained.info["train_seconds"],
            "best_step": trained.info["best_step"], "curve": curve}


def plot(rows: list[dict], path: Path) -> None:
    """Mean PSNR against steps per image set and method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_blind_denoise.core.atomic import replace_path, tmp_sibling

    sets = sorted({r["set"] for r in rows})
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.6), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        for method in dict.fromkeys(r["method"] for r in rows):
            curves = [r["curve"] for r in rows if r["set"] == name and r["method"] == method]
            steps = [c[0] for c in curves[0]]
            mean = np.mean([[c[1] for c in curve] for curve in curves], axis=0)
            ax.plot(steps, mean, marker="o", label=method)
        ax.set(title=f"{name} (mean of {len(curves)})", xlabel="training steps",
               ylabel="PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    replace_path(tmp, path)


def table(rows: list[dict]) -> str:
    """Markdown table: per image set and method, means over images."""
    lines = ["| image set | method | PSNR (dB) | SSIM | train s | images |",
             "|---|---|---|---|---|---|"]
    for name in sorted({r["set"] for r in rows}):
        for method in dict.fromkeys(r["method"] for r in rows):
            sel = [r for r in rows if r["set"] == name and r["method"] == method]
            lines.append(f"| {name} | {method} | {np.mean([r['psnr'] for r in sel]):.2f} | "
                         f"{np.mean([r['ssim'] for r in sel]):.4f} | "
                         f"{np.mean([r['train_s'] for r in sel]):.1f} | {len(sel)} |")
    return "\n".join(lines)


def main() -> int:
    """Run the comparison; print per-image lines, then the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--w2s", type=int, default=3, help="number of W2S pairs")
    p.add_argument("--synthetic", type=int, default=2, help="synthetic images (0-2)")
    p.add_argument("--size", type=int, default=512, help="crop edge in pixels")
    p.add_argument("--evals", type=int, default=6, help="PSNR evaluations along training")
    p.add_argument("--kinds", default="gmm3", help="N-net noise models, comma-separated")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=PLOT)
    p.add_argument("--jsonl", type=Path, help="also append raw rows here")
    args = p.parse_args()
    images = w2s_pairs(args.w2s, args.size) + synthetic(args.synthetic, args.size)
    methods = [("n2s", None)] + [(f"nnet-{k}", k) for k in args.kinds.split(",")]
    rows = []
    for name, noisy, clean in images:
        args.current = name
        for label, kind in methods:
            t0 = time.perf_counter()
            r = run_one("n2s" if kind is None else "nnet", kind, noisy, clean, args)
            row = {"set": name.split()[0], "image": name, "method": label, **r}
            rows.append(row)
            print(f"{name:18s} {label:14s} PSNR {r['psnr']:.2f} SSIM {r['ssim']:.4f} "
                  f"train {r['train_s']:.1f}s best step {r['best_step']} "
                  f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
            if args.jsonl:
                with args.jsonl.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    plot(rows, args.plot)
    print(table(rows))
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
