"""Which W2S pairs may be used to tune the method, and which only to report it.

The 30 pairs in ``../shared/data/w2s_widefield_pairs`` are 10 fields of view (FOVs) × 3
channels. Two of them shaped the defaults: the CPU preset was tuned on ``004_0``
(``benchmarks/tune.py``) and the model-selection rule was fixed on ``068_2``. The tuning part
is those two FOVs, all three channels each (the channels of a FOV image the same cells, so
they are not independent of the pair that was tuned on): 6 pairs. The other 24 pairs, of 8
FOVs, are the report part; figures in README.md and docs/benchmarks.md come from it, and it
must not be used to choose defaults.

    python benchmarks/splits.py          # print both parts
"""

from __future__ import annotations

TUNING_FOVS = ("004", "068")
PARTS = ("tuning", "report", "all")


def w2s_part(names: list[str], part: str) -> list[str]:
    """The W2S pair names (``NNN_C``) that belong to ``part`` ("tuning", "report" or "all")."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, not {part!r}")
    if part == "all":
        return list(names)
    tuning = part == "tuning"
    return [n for n in names if (n.split("_")[0] in TUNING_FOVS) == tuning]


if __name__ == "__main__":
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "w2s_widefield_pairs"
    all_names = sorted(p.stem for p in (data / "noisy").glob("*.png"))
    for p in PARTS[:2]:
        chosen = w2s_part(all_names, p)
        print(f"{p} ({len(chosen)}): {' '.join(chosen)}")
