"""Regenerate the embedded sample from ../shared/data (run from the repository root)."""

from pathlib import Path

import tifffile

from napari_blind_denoise.sample_data import CLEAN, NOISY, simulate_camera

src = Path("../shared/data/stardist_nuclei_clean/img2d.tif")
dst = Path("src/napari_blind_denoise/data")
noisy, expected = simulate_camera(tifffile.imread(src))
tifffile.imwrite(dst / NOISY, noisy, metadata={"axes": "YX"}, compression="zlib")
tifffile.imwrite(dst / CLEAN, expected, metadata={"axes": "YX"}, compression="zlib")
print("wrote", dst / NOISY, dst / CLEAN)
