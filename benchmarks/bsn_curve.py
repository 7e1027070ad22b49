"""PSNR against wall-clock training time: bsn next to n2s on W2S report pairs (issue 13).

Run from the repository root (needs ../shared/data), under the shared CPU lock:

    flock /tmp/cpu.lock python benchmarks/bsn_curve.py --budget 150 \
        --marks 15,30,60,90,120,150 --jsonl docs/results/2026-12-03-bsn-curve.jsonl

One training run per (pair, method) for ``--budget`` seconds with the method's defaults as
the CLI sets them (``default_config(method, "cpu")``; ``bsn`` here is bsn with the
Gaussian noise model learned, its default until 2026-12-03; n2s with its calibrated-blur
blend). The current weights are copied at the first step at or
past each mark of training time (the copy's seconds are recorded in ``snapshot_s`` and are
part of the session's clock, a few milliseconds each); every copy is evaluated after
training ends, so evaluation is not counted. ``bsnpg``: bsn with the Poisson-Gaussian noise
model (estimated from the image and held: bsn's default since 2026-12-03). The training clock
is the session's: from the first step, validation every 25 steps included, the setup before
it (normalisation, the noise estimate) not. The learning rate follows one schedule over the
whole budget (warm-up then cosine decay on elapsed / budget), so a copy at 30 s was trained
at a higher rate than a 30-s run would end on: the early points are the curve of one 150-s
run, not of shorter runs.

Evaluated per copy: bsn ``posterior`` and ``prior``; n2s ``blend`` (the default output: the
copy is blended with a calibrated filter by the method's post-training step, as the kept
model would be) and ``net`` (the network's one-pass output without the blend). No
test-time augmentation (``predict``'s default, as ``run.py``). PSNR after a least-squares
scale-and-offset fit to the ground truth (``run.py``'s W2S metric).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import image_names, load_pair, metrics


def train_with_copies(noisy, method: str, budget: float, marks: list[float]):
    """Train ``method`` for ``budget`` s; returns the session, the final (kept, finished)
    model and ``[(mark, seconds, step, state_dict, copy seconds)]``."""
    import torch

    from napari_blind_denoise.core import default_config
    from napari_blind_denoise.core.train import TrainingSession

    torch.manual_seed(0)
    limits = {"time_budget": budget, "steps": 10**9}
    if method == "bsnpg":  # bsn with the Poisson-Gaussian noise model (estimated, held)
        cfg = default_config("bsn", "cpu", noise_model="poisson-gaussian", **limits)
    elif method == "bsn":  # the Gaussian noise model, learned (the default until 2026-12-03)
        cfg = default_config("bsn", "cpu", noise_model="gaussian", **limits)
    else:
        cfg = default_config(method, "cpu", **limits)
    session = TrainingSession(noisy, "YX", cfg, device="cpu")
    run = session.run()
    copies, todo = [], list(marks)
    while True:
        try:
            event = next(run)
        except StopIteration as done:
            return session, done.value, copies
        if todo and event.elapsed >= todo[0]:
            t0 = time.perf_counter()
            state = {k: v.detach().clone() for k, v in session.model.state_dict().items()}
            copies.append((todo.pop(0), event.elapsed, event.step, state,
                           time.perf_counter() - t0))
            while todo and event.elapsed >= todo[0]:  # a slow step passed two marks
                copies.append((todo.pop(0), event.elapsed, event.step, state, 0.0))


def as_trained(session, state):
    """A :class:`TrainedModel` of the session's network with the weights ``state``."""
    from napari_blind_denoise.core.trained import TrainedModel

    model = copy.deepcopy(session.model)
    model.load_state_dict(state)
    model.eval()
    return TrainedModel(model, session.config, session.norm, session.layout.axes,
                        {"steps": 0})


def evaluate(session, trained, noisy, clean, method: str) -> dict[str, float]:
    """PSNR of the outputs named in the module docstring."""
    from napari_blind_denoise.core import predict, run_to_completion

    def psnr_of(t, **kw) -> float:
        out = run_to_completion(predict(t, noisy, "YX", device="cpu", **kw))
        return round(metrics("w2s", out, clean)[0], 3)

    if method.startswith("bsn"):
        from napari_blind_denoise.core.methods.bayesian import noise_parameters

        noise = noise_parameters(trained)[0]
        return {"posterior": psnr_of(trained, inference="posterior"),
                "prior": psnr_of(trained, inference="prior"),
                "noise": {k: round(v, 3) for k, v in noise.items() if isinstance(v, float)}}
    scores = {"net": psnr_of(trained)}  # before the post-training step: no blend yet
    finished = session.method.finish(trained, noisy, session.layout)
    scores["blend"] = psnr_of(finished)
    scores["blend_weight"] = finished.config.blend.weight
    return scores


def evaluate_kept(final, noisy, clean) -> dict[str, float | None]:
    """PSNR of the model training returned (kept by validation; n2s: already blended)."""
    from dataclasses import replace

    from napari_blind_denoise.core import predict, run_to_completion

    def psnr_of(t, **kw) -> float:
        out = run_to_completion(predict(t, noisy, "YX", device="cpu", **kw))
        return round(metrics("w2s", out, clean)[0], 3)

    if final.config.method == "bsn":  # bsn and bsnpg
        return {"posterior": psnr_of(final, inference="posterior"),
                "prior": psnr_of(final, inference="prior")}
    blend = final.config.blend
    net = copy.copy(final)
    net.config = replace(final.config, blend=replace(blend, weight=None))
    return {"blend": psnr_of(final), "net": psnr_of(net), "blend_weight": blend.weight}


OUTPUTS = {"bsn": ("posterior", "prior"), "bsnpg": ("posterior", "prior"),
           "n2s": ("blend", "net")}


def table(rows: list[dict]) -> str:
    """Markdown table: one row per (pair, mark), the methods side by side."""
    by = {(r["image"], r["method"], r["mark"]): r for r in rows}
    methods = list(dict.fromkeys(r["method"] for r in rows))
    head = ["pair", "mark (s)"]
    for m in methods:
        head += [f"{m} s / steps", *(f"{m} {o}" for o in OUTPUTS[m])]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for image, mark in dict.fromkeys((r["image"], r["mark"]) for r in rows):
        cells = [image, str(mark)]
        for m in methods:
            r = by.get((image, m, mark))
            cells += ([f"{r['seconds']:.1f} / {r['step']}", *(str(r[o]) for o in OUTPUTS[m])]
                      if r else [""] * (1 + len(OUTPUTS[m])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + means(rows, methods))


def means(rows: list[dict], methods: list[str]) -> list[str]:
    """Table rows of the mean over pairs at each mark (seconds, steps and PSNR)."""
    import numpy as np

    out = []
    for mark in dict.fromkeys(r["mark"] for r in rows):
        cells = ["mean", str(mark)]
        for m in methods:
            rs = [r for r in rows if r["method"] == m and r["mark"] == mark]
            cells += [f"{np.mean([r['seconds'] for r in rs]):.1f} / "
                      f"{np.mean([r['step'] for r in rs]):.0f}",
                      *(f"{np.mean([r[o] for r in rs]):.3f}" for o in OUTPUTS[m])]
        out.append("| " + " | ".join(cells) + " |")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=150.0, help="training seconds per run")
    p.add_argument("--marks", default="15,30,60,90,120,150", help="seconds to copy at")
    p.add_argument("--images", type=int, default=3, help="report pairs, spread evenly")
    p.add_argument("--methods", default="bsn,n2s")
    p.add_argument("--jsonl", help="append every row to this file")
    p.add_argument("--report", help="only print the table of a saved --jsonl file")
    args = p.parse_args()
    if args.report:
        rows = [json.loads(line) for line in Path(args.report).read_text().splitlines()]
        print(table(rows))
        return 0
    marks = [float(m) for m in args.marks.split(",")]
    rows = []
    for name in image_names("w2s", args.images, "report"):
        noisy, clean = load_pair("w2s", name)
        for method in args.methods.split(","):
            session, final, copies = train_with_copies(noisy, method, args.budget, marks)
            for mark, seconds, step, state, copy_s in copies:
                row = {"image": name, "method": method, "mark": mark,
                       "seconds": round(seconds, 2), "step": step,
                       "snapshot_s": round(copy_s, 4),
                       **evaluate(session, as_trained(session, state), noisy, clean, method)}
                rows.append(row)
            kept = {"image": name, "method": method, "mark": "kept",
                    "seconds": final.info["train_seconds"], "step": final.info["steps"],
                    "best_step": final.info["best_step"],
                    "noisy": round(metrics("w2s", noisy, clean)[0], 3),
                    **evaluate_kept(final, noisy, clean)}
            rows.append(kept)
            for row in rows[-len(copies) - 1:]:
                print(json.dumps(row), flush=True)
                if args.jsonl:
                    with open(args.jsonl, "a") as f:
                        f.write(json.dumps(row) + "\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
