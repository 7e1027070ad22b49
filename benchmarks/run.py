"""Quality benchmark: n2v / n2s under an equal wall-clock budget against classical baselines.

Run from the repository root (needs ../shared/data):

    python benchmarks/run.py --budget 120                      # all W2S pairs + 5 BSD68 images
    python benchmarks/run.py --budget 30 --w2s-limit 6 --bsd68-limit 2   # a quick look
    python benchmarks/run.py --report a.jsonl b.jsonl          # table of saved --jsonl results

Prints a markdown table (image set, method, PSNR, SSIM, train seconds, peak RSS) of means over
images, and with ``--per-image`` one row per image. W2S pairs are scored after a least-squares
scale-and-offset fit to the ground truth (their 8-bit exports were contrast-stretched
independently); BSD68 with synthetic Gaussian noise (sigma 25 on 0..255, seeded) is scored raw
with a peak of 255. Every (image, method) runs in a fresh process so peak RSS is its own.

Correlated-noise sets (synthetic, seeded; ``core.noise.synthetic``) on clean microscopy:
``hela-scan`` / ``nuclei-scan``: Gaussian noise (10 % of the range) filtered along X by a
3-pixel box (scan-line correlation, lag-1 0.67); ``hela-resampled`` / ``nuclei-resampled``:
Poisson-Gaussian noise (30 photons at the peak, 2 % read noise) filtered by the 3-tap binomial
kernel along Y and X (lag-1 0.67 on both axes). HeLa: the three channels of
``fiji_hela_cells_clean``; nuclei: StarDist ``img2d``. Scored raw against the clean image
(peak: its range). Methods ``n2s`` / ``n2v`` use the defaults (``blind_spot="auto"``);
``n2s-pixel`` / ``n2v-pixel`` force the one-pixel blind spot (the behaviour before it);
``bsn`` is the Bayesian blind-spot network with the Gaussian noise model, learned (its
default until 2026-12-03), the posterior; ``psnr_prior`` scores the same model's prior mean;
``bsnpg``: with the Poisson-Gaussian noise model, estimated from the image and held (bsn's
default since 2026-12-03);
``tv-cal`` / ``wavelet-cal`` are scikit-image's denoisers calibrated by J-invariance
(``calibrate_denoiser``). ``noisy`` scores the input itself (the reference every gain is
measured from). ``classical`` is ``--method classical`` as the CLI runs it (our
J-invariant calibration over every installed family, on the measured partition; ``train s``
is its calibration, ``total_s`` includes the filtering); ``classical-<family>`` restricts it to
one family (``gaussian``, ``tv``, ``wavelet``, ``nlm``, ``bm3d``); ``classical-all`` tries every
installed family with no time budget (the choice then does not depend on the machine's load;
``classical`` skips a family that would end past its 10 s budget, recorded in ``skipped``).

    python benchmarks/run.py --sets hela-scan,hela-resampled,nuclei-scan,nuclei-resampled \
        --methods n2s-pixel,n2s,n2v-pixel,n2v,blur,tv-cal,wavelet-cal --budget 120
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from splits import PARTS, w2s_part

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Geometric, 0.5 to 10 pixels (27 values, ratio 1.12): the earlier linear grid stopped at 4 and
# three W2S pairs (060_2, 068_2, 076_2) chose 4. ``baseline`` records ``at_cap`` when the best
# sigma is the largest one, so a capped oracle shows up in the results file.
BLUR_SIGMAS = np.geomspace(0.5, 10.0, 27)


CORRELATED = {"scan": ("scanline", {"sigma": 0.1}),
              "resampled": ("resampled", {"sigma": 0.02, "peak": 30.0})}


def _clean_microscopy(source: str, name: str) -> np.ndarray:
    import tifffile

    if source == "hela":
        stack = tifffile.imread(DATA / "fiji_hela_cells_clean" / "hela_cells_CYX.tif")
        return stack[int(name[-1])].astype(np.float32)
    return tifffile.imread(DATA / "stardist_nuclei_clean" / "img2d.tif").astype(np.float32)


def load_pair(kind: str, name: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) float32 arrays of one benchmark image."""
    import imageio.v3 as iio

    if "-" in kind:  # a correlated-noise set: <clean source>-<noise>
        from napari_blind_denoise.core import add_noise

        source, noise = kind.split("-")
        clean = _clean_microscopy(source, name)
        noise_kind, options = CORRELATED[noise]
        return add_noise(clean, noise_kind, seed=seed + 11, length=3, **options), clean
    if kind == "w2s":
        noisy = iio.imread(DATA / "w2s_widefield_pairs" / "noisy" / f"{name}.png")
        clean = iio.imread(DATA / "w2s_widefield_pairs" / "gt" / f"{name}.png")
        return noisy.astype(np.float32), clean.astype(np.float32)
    clean = iio.imread(DATA / "bsd68_gray" / f"{name}.png").astype(np.float32)
    rng = np.random.default_rng(seed + int(name[-3:]))
    return (clean + rng.normal(0, 25, clean.shape)).astype(np.float32), clean


def metrics(kind: str, pred: np.ndarray, clean: np.ndarray) -> tuple[float, float]:
    """(PSNR, SSIM): scale-fitted for W2S, raw with peak 255 for BSD68."""
    from napari_blind_denoise.core.metrics import score

    if kind == "w2s":
        s = score(pred, clean)
        return s["psnr_fit"], s["ssim_fit"]
    if "-" in kind:
        s = score(pred, clean, data_range=float(clean.max() - clean.min()))
        return s["psnr"], s["ssim"]
    s = score(pred, clean, data_range=255.0)
    return s["psnr"], s["ssim"]


def run_method(kind: str, name: str, method: str, budget: float, tta: bool = False,
               steps: int | None = None) -> dict:
    """One (image, method) cell; runs inside a fresh worker process. ``steps``: train that
    many steps instead of for ``budget`` seconds (quality independent of machine load)."""
    noisy, clean = load_pair(kind, name)
    t0 = time.perf_counter()
    if method.split("-")[0] in ("n2v", "n2s", "nnet", "bsn", "bsnpg"):
        from dataclasses import replace

        from napari_blind_denoise.core import (
            default_config,
            predict,
            run_to_completion,
            train,
        )

        base, _, spot = method.partition("-")
        limit = {"steps": steps} if steps else {"time_budget": budget, "steps": 10**9}
        if base == "bsnpg":  # bsn with the Poisson-Gaussian noise model
            cfg = default_config("bsn", "cpu", noise_model="poisson-gaussian", **limit)
        elif base == "bsn":  # the Gaussian noise model, learned (bsn's default until 2026-12-03)
            cfg = default_config("bsn", "cpu", noise_model="gaussian", **limit)
        else:
            cfg = default_config(base, "cpu", **limit)
        if spot:
            cfg = replace(cfg, mask=replace(cfg.mask, blind_spot=spot))
        trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
        train_s = trained.info["train_seconds"]
        t1 = time.perf_counter()
        pred = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
        extra = {"steps": trained.info["steps"], "blind_spot": trained.config.mask.blind_spot,
                 "predict_s": round(time.perf_counter() - t1, 3)}
        if base.startswith("bsn"):  # the same model without the Bayesian step
            prior = run_to_completion(predict(trained, noisy, "YX", device="cpu",
                                              inference="prior"))
            extra["psnr_prior"] = metrics(kind, prior, clean)[0]
        if tta:  # the same model, predicted with test-time augmentation as well
            from napari_blind_denoise.core import TileConfig

            t1 = time.perf_counter()
            aug = run_to_completion(predict(trained, noisy, "YX", device="cpu",
                                            tile=TileConfig(tta=True)))
            extra.update(psnr_tta=metrics(kind, aug, clean)[0],
                         predict_tta_s=round(time.perf_counter() - t1, 3))
    elif method.split("-")[0] == "classical":
        pred, extra = classical(noisy, method.partition("-")[2])
        train_s = extra.pop("calibrate_s")
    else:
        pred, extra = baseline(kind, method, noisy, clean)
        train_s = 0.0
    seconds = time.perf_counter() - t0
    p, s = metrics(kind, pred, clean)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"set": kind, "image": name, "method": method, "psnr": p, "ssim": s,
            "train_s": train_s, "total_s": seconds, "rss_mb": rss_mb, **extra}


def classical(noisy: np.ndarray, family: str = "") -> tuple[np.ndarray, dict]:
    """``--method classical`` as the CLI runs it (seed 0): J-invariant calibration on the
    measured partition, then the filter over the image; ``family`` restricts the calibration to
    one family (``classical-tv``...). Returns the output and what was chosen."""
    from dataclasses import replace

    from napari_blind_denoise.core import default_config, predict, run_to_completion, train

    cfg = default_config("classical", "cpu", seed=0)
    if family == "all":  # every family, whatever the time (the choice does not depend on load)
        cfg = replace(cfg, train=replace(cfg.train, time_budget=None))
    elif family:
        cfg = replace(cfg, classical=replace(cfg.classical, families=(family,)))
    t0 = time.perf_counter()
    trained = run_to_completion(train(noisy, "YX", cfg, device="cpu"))
    calibrate_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    pred = run_to_completion(predict(trained, noisy, "YX", device="cpu"))
    chosen = trained.info["adapted"]["classical"]
    return pred, {"calibrate_s": round(calibrate_s, 3),
                  "predict_s": round(time.perf_counter() - t1, 3),
                  "filter": chosen["filter"], "params": chosen["params"],
                  "loss": chosen["loss"], "partition": chosen["partition"],
                  "skipped": chosen.get("skipped", {})}


def baseline(kind: str, method: str, noisy: np.ndarray, clean: np.ndarray):
    """Classical denoisers; ``blur`` picks its sigma with the ground truth (an oracle)."""
    from scipy.ndimage import gaussian_filter
    from skimage.restoration import denoise_nl_means, estimate_sigma

    if method == "noisy":  # the input itself: what every gain is measured from
        return noisy, {}
    if method == "blur":
        best = max(BLUR_SIGMAS, key=lambda s: metrics(kind, gaussian_filter(noisy, s), clean)[0])
        return gaussian_filter(noisy, best), {"sigma": round(float(best), 3),
                                              "at_cap": bool(best == BLUR_SIGMAS[-1])}
    if method == "nlm":
        sigma = float(estimate_sigma(noisy))
        out = denoise_nl_means(noisy, h=0.8 * sigma, sigma=sigma, fast_mode=True,
                               patch_size=5, patch_distance=6)
        return out.astype(np.float32), {"sigma": sigma}
    if method in ("tv-cal", "wavelet-cal"):
        from skimage.restoration import (
            calibrate_denoiser,
            denoise_tv_chambolle,
            denoise_wavelet,
        )

        lo, hi = float(noisy.min()), float(noisy.max())
        x = (noisy - lo) / (hi - lo)
        if method == "tv-cal":
            func, grid = denoise_tv_chambolle, {"weight": list(np.geomspace(0.01, 1.0, 12))}
        else:
            func, grid = denoise_wavelet, {"sigma": list(np.geomspace(0.005, 0.3, 12)),
                                           "rescale_sigma": [True]}
        best = calibrate_denoiser(x, func, denoise_parameters=grid)
        return (best(x) * (hi - lo) + lo).astype(np.float32), {}
    if method == "bm3d":
        import bm3d

        sigma = float(estimate_sigma(noisy))
        return bm3d.bm3d(noisy, sigma_psd=sigma).astype(np.float32), {"sigma": sigma}
    raise ValueError(method)


def image_names(kind: str, limit: int | None, part: str = "all") -> list[str]:
    """Benchmark images of a set (W2S: of one part, see splits.py), spread evenly when limited."""
    if kind.startswith("hela-"):
        names = ["hela_c0", "hela_c1", "hela_c2"]
    elif kind.startswith("nuclei-"):
        names = ["nuclei_img2d"]
    elif kind == "w2s":
        names = sorted(p.stem for p in (DATA / "w2s_widefield_pairs" / "noisy").glob("*.png"))
        names = w2s_part(names, part)
    else:
        names = sorted(p.stem for p in (DATA / "bsd68_gray").glob("*.png"))
    if limit and limit < len(names):
        idx = np.linspace(0, len(names) - 1, limit).round().astype(int)
        names = [names[i] for i in idx]
    return names


def table(rows: list[dict], per_image: bool) -> str:
    """Markdown table of means per (set, method) (or one row per image)."""
    head = "| image set | method | PSNR (dB) | SSIM | train s | peak RSS (MB) | images |\n"
    head += "|---|---|---|---|---|---|---|\n"
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["set"], r["method"], r["image"]) if per_image else (r["set"], r["method"])
        groups.setdefault(key, []).append(r)
    lines = []
    for key, rs in groups.items():
        label = f"{key[0]} {key[2]}" if per_image else key[0]
        lines.append(f"| {label} | {key[1]} | {np.mean([r['psnr'] for r in rs]):.2f} | "
                     f"{np.mean([r['ssim'] for r in rs]):.4f} | "
                     f"{np.mean([r['train_s'] for r in rs]):.1f} | "
                     f"{max(r.get('rss_mb', float('nan')) for r in rs):.0f} | {len(rs)} |")
    return head + "\n".join(lines)


def versus(rows: list[dict], pairs: list[str]) -> str:
    """Markdown table of per-image PSNR differences ``a − b`` for each ``a:b`` in ``pairs``:
    mean, range and how many images ``a`` won, per image set (and over all sets)."""
    psnr = {(r["set"], r["image"], r["method"]): r["psnr"] for r in rows}
    lines = ["| image set | a − b | mean (dB) | min (dB) | max (dB) | a better | images |",
             "|---|---|---|---|---|---|---|"]
    kinds = list(dict.fromkeys(r["set"] for r in rows))
    for pair in pairs:
        a, b = pair.split(":")
        for kind in kinds + (["all sets"] if len(kinds) > 1 else []):
            d = [psnr[(k, i, a)] - psnr[(k, i, b)] for (k, i, m) in psnr
                 if kind in (k, "all sets") and m == a and (k, i, b) in psnr]
            if d:
                lines.append(f"| {kind} | {a} − {b} | {np.mean(d):+.2f} | {min(d):+.2f} | "
                             f"{max(d):+.2f} | {sum(x > 0 for x in d)} | {len(d)} |")
    return "\n".join(lines)


def blur_note(rows: list[dict]) -> str:
    """The oracle blur's chosen sigmas, and the images where it hit the grid's cap."""
    blur = [r for r in rows if r["method"] == "blur" and "sigma" in r]
    if not blur:
        return ""
    sigmas = sorted(r["sigma"] for r in blur)
    text = f"Oracle blur sigma: {sigmas[0]:.3g} to {sigmas[-1]:.3g} over {len(blur)} images"
    recorded = [r for r in blur if "at_cap" in r]
    if recorded:
        capped = [f"{r['set']} {r['image']}" for r in recorded if r["at_cap"]]
        text += (f"; at the grid's cap ({BLUR_SIGMAS[-1]:g}) on {len(capped)} of "
                 f"{len(recorded)}{': ' if capped else ''}{', '.join(capped)}")
    return text + "."


def steps_note(rows: list[dict]) -> str:
    """The range of optimiser steps each learned method reached (wall-clock budgets vary with
    the machine's load)."""
    ranges = []
    for method in dict.fromkeys(r["method"] for r in rows if "steps" in r):
        steps = [r["steps"] for r in rows if r["method"] == method and "steps" in r]
        ranges.append(f"{method} {min(steps)}–{max(steps)}")
    return f"Steps reached: {', '.join(ranges)}." if ranges else ""


def report(paths: list[str], per_image: bool, pairs: str | None) -> str:
    """Tables of saved ``--jsonl`` results (later files override earlier ones)."""
    merged = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            merged[(r["set"], r["image"], r["method"])] = r
    rows = list(merged.values())
    parts = [table(rows, per_image)]
    if pairs:
        parts.append(versus(rows, pairs.split(",")))
    parts += [steps_note(rows), blur_note(rows)]
    return "\n\n".join(p for p in parts if p)


def run_all(args: argparse.Namespace) -> list[dict]:
    """Every (set, image, method) cell of the command line, each in a fresh process."""
    only = {m: sets.split(",") for m, _, sets in
            (spec.partition("=") for spec in (args.only or "").split(";") if spec)}
    rows = []
    ctx = mp.get_context("spawn")
    limits = {"w2s": args.w2s_limit, "bsd68": args.bsd68_limit}
    limits.update(dict.fromkeys(("hela-scan", "hela-resampled"), args.hela_limit))
    for kind in args.sets.split(","):
        for name in image_names(kind, limits.get(kind), args.part):
            if args.images and name not in args.images.split(","):
                continue
            for method in args.methods.split(","):
                if kind not in only.get(method, [kind]):
                    continue
                with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                    r = pool.submit(run_method, kind, name, method, args.budget,
                                    args.tta, args.steps).result()
                rows.append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(r) + "\n")
    return rows


def main() -> int:
    """Command-line entry."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=120.0, help="training seconds per image")
    ap.add_argument("--steps", type=int, default=None,
                    help="train a fixed number of steps instead of --budget seconds: quality "
                         "that does not depend on the machine's load (seconds still recorded)")
    ap.add_argument("--sets", default="w2s,bsd68")
    ap.add_argument("--methods", default="n2v,n2s,blur,nlm")
    ap.add_argument("--w2s-limit", type=int, default=None,
                    help="number of W2S pairs of --part, spread evenly (all: 30)")
    ap.add_argument("--part", choices=PARTS, default="report",
                    help="W2S pairs: the report part (24 pairs, default), the tuning part "
                    "(6 pairs the defaults were tuned on) or all 30 (benchmarks/splits.py)")
    ap.add_argument("--images", default=None,
                    help="comma-separated image names: keep only these of the chosen ones "
                    "(e.g. to add pairs to an earlier run)")
    ap.add_argument("--bsd68-limit", type=int, default=5, help="number of BSD68 images")
    ap.add_argument("--hela-limit", type=int, default=None, help="HeLa channels (all: 3)")
    ap.add_argument("--per-image", action="store_true")
    ap.add_argument("--tta", action="store_true",
                    help="learned methods: also score the same model with test-time "
                    "augmentation (psnr_tta, predict_tta_s)")
    ap.add_argument("--only", metavar="METHOD=SET,...;...",
                    help="run these methods on these sets only, e.g. "
                    "\"bsn=hela-scan,nuclei-scan;bsnpg=hela-resampled,nuclei-resampled\"")
    ap.add_argument("--jsonl", help="append raw results to this file")
    ap.add_argument("--report", nargs="+", metavar="JSONL",
                    help="only print the table of saved results (later files override "
                         "earlier ones for the same image and method)")
    ap.add_argument("--versus", metavar="A:B,...",
                    help="with --report: also tabulate per-image PSNR differences A − B, "
                    "e.g. n2v:blur,n2s:blur")
    args = ap.parse_args()
    if args.report:
        print(report(args.report, args.per_image, args.versus))
        return 0
    if not DATA.is_dir():
        print(f"benchmark data not found at {DATA}", file=sys.stderr)
        return 2
    rows = run_all(args)
    limit = f"{args.steps} steps" if args.steps else f"Budget {args.budget:g} s"
    print(f"\n{limit} per image and method, CPU "
          f"({mp.cpu_count()} cores).\n")
    print(table(rows, args.per_image))
    return 0


if __name__ == "__main__":
    sys.exit(main())
