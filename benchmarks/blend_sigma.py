"""How the blend chooses its one-pass blur's σ on correlated noise, against the ground truth.

The blend (``core/methods/blend.py``) applies a Gaussian blur in one pass, but its σ comes
from the noisy image alone. This benchmark scores each way of choosing it on the stand-in of
``heldout_proxy.py`` (a W2S pair's real noise, filtered to a given lag-1 correlation, halved):
by the PSNR loss of the one-pass blur at the chosen σ against the best σ of the same grid,
chosen with the ground truth ("oracle"), on the blend's calibration window (the central 256²
of the normalised image). Ways:

- ``invariant``: the J-invariant loss with the blind spot ``auto`` would take (what the blend
  used alone until 2026-12-03);
- ``risk``: Stein's unbiased risk of the one-pass blur with the debiased noise
  autocorrelation and the second-difference variance;
- ``used``: the larger of the two (what the blend uses).

No network is trained: seconds per case.

    python benchmarks/blend_sigma.py --part tuning --jsonl out.jsonl
    python benchmarks/blend_sigma.py --report out.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from heldout_proxy import DATA, make_pair
from splits import w2s_part

from napari_blind_denoise.core.config import (
    ClassicalConfig,
    DenoiseConfig,
    TrainConfig,
    format_blind_spot,
)
from napari_blind_denoise.core.data.axes import Layout
from napari_blind_denoise.core.data.normalize import compute_norm_stats
from napari_blind_denoise.core.methods.blend import risk_sigma
from napari_blind_denoise.core.methods.blindspot import MAX_HIDE
from napari_blind_denoise.core.methods.classical import (
    FAMILIES,
    Classical,
    apply_filter,
    calibrate,
    calibration_windows,
)
from napari_blind_denoise.core.metrics import psnr
from napari_blind_denoise.core.noise.correlation import (
    estimate_noise_correlation,
    noise_autocorrelation_debiased,
)

WAYS = ("invariant", "risk", "used")


def run_case(name: str, case: str, scale: float, seed: int) -> dict:
    noisy, clean, facts = make_pair(name, case, scale)
    layout = Layout("YX", noisy.shape)
    corr = estimate_noise_correlation(noisy, layout, seed=seed)
    spot = format_blind_spot((0, 0) if corr.independent
                             else tuple(min(e + 1, MAX_HIDE) for e in corr.extent))
    norm = compute_norm_stats(noisy, layout)
    windows = calibration_windows(noisy, layout, norm, ClassicalConfig())
    target = calibration_windows(clean, layout, norm, ClassicalConfig())
    cfg = DenoiseConfig(method=Classical.id, mask=replace(Classical.mask, blind_spot=spot),
                        train=TrainConfig(seed=seed, time_budget=1e9),
                        classical=ClassicalConfig(families=("gaussian",)))
    fitted = None
    for fitted in calibrate(cfg, windows):  # noqa: B007 - the last is the best
        pass
    sigmas = [p["sigma"] for p in FAMILIES["gaussian"].grid(0.0)]
    acf = noise_autocorrelation_debiased(noisy, layout, seed=seed)
    chosen = {"invariant": float(fitted.config.classical.params["sigma"]),
              "risk": risk_sigma(windows, acf, sigmas)}
    chosen["used"] = max(chosen.values())
    peak = float(target[0].max() - target[0].min())
    score = {s: psnr(apply_filter("gaussian", {"sigma": s}, windows[0]), target[0], peak)
             for s in sigmas}
    oracle = max(score, key=score.get)
    return {"image": name, "case": case, "noise_scale": scale, "blind_spot": spot,
            "lag1_after": facts["lag1_after"], "oracle_sigma": oracle,
            "oracle_psnr": score[oracle],
            **{f"{w}_sigma": chosen[w] for w in WAYS},
            **{f"{w}_loss_db": score[oracle] - score[chosen[w]] for w in WAYS}}


def table(rows: list[dict]) -> str:
    head = ("| image | case | blind spot | oracle σ | "
            + " | ".join(f"{w} σ (loss dB)" for w in WAYS) + " |")
    lines = [head, "|" + "---|" * (4 + len(WAYS))]
    for r in rows:
        cells = " | ".join(f"{r[f'{w}_sigma']:.2f} ({r[f'{w}_loss_db']:.2f})" for w in WAYS)
        lines.append(f"| {r['image']} | {r['case']} | {r['blind_spot']} | "
                     f"{r['oracle_sigma']:.2f} | {cells} |")
    means = " | ".join(f"mean {np.mean([r[f'{w}_loss_db'] for r in rows]):.3f}, "
                       f"max {np.max([r[f'{w}_loss_db'] for r in rows]):.2f}" for w in WAYS)
    lines.append(f"| all | {len(rows)} cases | | | {means} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", default="tuning", choices=("tuning", "report"))
    p.add_argument("--images", default=None, help="comma-separated W2S names (default: the part)")
    p.add_argument("--cases", default="x0,x0.05,x0.15,x0.26,yx0.6")
    p.add_argument("--noise-scale", type=float, default=0.5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jsonl", default=None)
    p.add_argument("--report", nargs="*", default=None, help="print the table of saved runs")
    args = p.parse_args()
    if args.report is not None:
        rows = [json.loads(line) for f in args.report for line in Path(f).read_text()
                .splitlines() if line.strip()]
        print(table(rows))
        return 0
    if not DATA.exists():
        print(f"no W2S data at {DATA}", file=sys.stderr)
        return 1
    names = (args.images.split(",") if args.images else
             w2s_part(sorted(p.stem for p in (DATA / "noisy").glob("*.png")), args.part))
    rows = []
    for name in names:
        for case in args.cases.split(","):
            row = {**run_case(name, case, args.noise_scale, args.seed), "part": args.part}
            rows.append(row)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                              for k, v in row.items()}), flush=True)
            if args.jsonl:
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(row) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
