# Inputs (run first, in the scratch folder, with PYTHONPATH pointing at src/):
#   import os, numpy as np, tifffile
#   from napari_blind_denoise.core import add_noise
#   clean = tifffile.imread("../shared/data/stardist_nuclei_clean/img2d.tif").astype(np.float32)[:256, :256]
#   pg = lambda img, seed: add_noise(img, "poisson-gaussian", seed=seed, peak=30, sigma=0.02)
#   tifffile.imwrite("a.tif", pg(clean, 1), metadata={"axes": "YX"})
#   tifffile.imwrite("b.tif", pg(clean, 2), metadata={"axes": "YX"})
#   tifffile.imwrite("movie.tif", np.stack([pg(clean, 10 + t) for t in range(4)]), metadata={"axes": "TYX"})
#   os.makedirs("batch", exist_ok=True)
#   for k in range(3):
#       tifffile.imwrite(f"batch/cell{k}.tif", pg(clean[k*32:k*32+192, :224], 20 + k), metadata={"axes": "YX"})
set -u
BD="nice -n 10 /work/main/.venv/bin/blind-denoise"
run() { echo "\$ blind-denoise $*"; $BD "$@" 2>&1 | grep -v "^train [0-9.]*% step [0-9]* .*" ; echo "(exit code ${PIPESTATUS[0]})"; echo; }
echo "# made in a scratch folder by docs/results/2026-12-02-cli-n2n-and-many-files.sh (inputs made as below); inputs: a 256x256 crop of"
echo "# StarDist img2d with Poisson-Gaussian noise (peak 30, read noise 0.02) by core.noise.synthetic.add_noise:"
echo "# a.tif / b.tif (seeds 1, 2), movie.tif (TYX, 4 frames, seeds 10-13), batch/cell{0,1,2}.tif (192x224 crops, seeds 20-22)."
echo "# Short runs (--steps 10): they show the commands and outputs, not the quality."
run denoise a.tif --pair b.tif -o a_n2n.tif --method n2n --steps 10
run denoise movie.tif --pairs-from T -o movie_n2n.tif --method n2n --steps 10
run denoise a.tif --pair movie.tif -o x.tif --method n2n
run denoise a.tif --pair b.tif -o x.tif --method n2v
run denoise a.tif --pairs-from T -o x.tif --method n2n
run denoise a.tif -o x.tif --method n2n
run denoise batch/ -o out/ --method n2v --steps 10
run predict 'batch/cell*.tif' --model out/model -o again/
run denoise batch/cell0.tif batch/cell1.tif -o batch/ --method n2v
echo "\$ ls out again"; ls out again
