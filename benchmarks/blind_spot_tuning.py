"""Blind-spot shape tuning, on the tuning image only (HeLa channel 1, a 256x256 crop).

The report sets of ``benchmarks/run.py`` use HeLa channels 0 and 2 and the StarDist nuclei;
this script looks at channel 1 alone.
Results: docs/results/2026-12-01-blind-spot-margin-tuning.txt.

    python benchmarks/blind_spot_tuning.py 300 "n2s,n2s-blind_spot=3x5,n2v-blind_spot=5x5"
    python benchmarks/blind_spot_tuning.py 300 "n2s-blind_spot=5x5" hela-resampled
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import baseline, load_pair, metrics


def main() -> int:
    """Arguments: steps, comma-separated ``method[-field=value+...]`` variants, [set]."""
    from napari_blind_denoise.core import default_config, predict, run_to_completion, train

    steps, variants = int(sys.argv[1]), sys.argv[2].split(",")
    kind = sys.argv[3] if len(sys.argv) > 3 else "hela-scan"
    noisy, clean = load_pair(kind, "hela_c1")
    noisy, clean = noisy[:256, :256], clean[:256, :256]
    blur = baseline(kind, "blur", noisy, clean)[0]
    print(f"noisy {metrics(kind, noisy, clean)[0]:.2f} blur {metrics(kind, blur, clean)[0]:.2f}")
    for spec in variants:
        method, _, fields = spec.partition("-")
        cfg = default_config(method, steps=steps)
        if fields:
            mask = dict(kv.split("=") for kv in fields.split("+"))
            cfg = replace(cfg, mask=replace(cfg.mask, **mask))
        t0 = time.perf_counter()
        trained = run_to_completion(train(noisy, "YX", cfg))
        out = run_to_completion(predict(trained, noisy, "YX"))
        print(spec, trained.config.mask.blind_spot, f"{metrics(kind, out, clean)[0]:.2f}",
              f"{time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
