"""``blind-denoise``: train, predict, evaluate and demo from the command line.

Bad input ends with exit code 2 and one line on stderr, never a traceback. With ``--json``
the last line of stdout is a JSON summary. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from ._cli_common import (
    Progress,
    add_common,
    add_noise_out,
    add_train_flags,
    check_noise_flags,
    drain,
    emit,
    load,
    noise_outputs,
    tile_config,
    train_and_predict,
)
from .core.errors import BlindDenoiseError, InputError

EXIT_BAD_INPUT = 2


# -- commands -------------------------------------------------------------------------------

def cmd_denoise(args) -> int:
    """Train on INPUT, predict, write OUTPUT."""
    from .io import open_output
    from .io.images import check_output_path

    t0 = time.perf_counter()
    check_noise_flags(args)
    out_path = check_output_path(args.output, [args.input])
    data, axes = load(args.input, args.axes)
    out = open_output(out_path, tuple(data.shape), axes, attrs={"method": args.method})
    try:
        trained, _, pred_s = train_and_predict(data, axes, args, out=out.array)
        noise = noise_outputs(args, trained, out.array, axes)
        out.commit()
    finally:
        out.abort()
    emit(args, {
        "method": trained.method, "input": str(args.input), "output": str(out_path),
        "axes": axes, "shape": list(data.shape), "steps": trained.info["steps"],
        "best_step": trained.info["best_step"], "train_seconds": trained.info["train_seconds"],
        "predict_seconds": round(pred_s, 3), "total_seconds": round(time.perf_counter() - t0, 3),
        "device": trained.info["device"], "model": args.save_model, **noise,
    })
    return 0


def cmd_predict(args) -> int:
    """Apply a saved model to INPUT."""
    from .core import load_model, predict
    from .core.device import pick_device
    from .core.validate import check_image
    from .io import open_output, read_image
    from .io.images import check_output_path

    t0 = time.perf_counter()
    out_path = check_output_path(args.output, [args.input])
    device = pick_device(args.device)
    trained = load_model(args.model, device)
    if args.noise_out:
        from .core.noise_model import has_noise_model
        from .io.noise_files import check_noise_dir

        if not has_noise_model(trained):
            raise InputError(f"--noise-out needs a model with a noise model (nnet), not "
                             f"{trained.method}")
        check_noise_dir(args.noise_out)
    data, file_axes = read_image(args.input)
    axes = args.axes or file_axes or (trained.axes if len(trained.axes) == data.ndim else None)
    axes = check_image(data, axes).axes
    out = open_output(out_path, tuple(data.shape), axes, attrs={"method": trained.method})
    try:
        drain(predict(trained, data, axes, tile=tile_config(args), out=out.array,
                       device=device), Progress(args.quiet).predict)
        noise = noise_outputs(args, trained, out.array, axes)
        out.commit()
    finally:
        out.abort()
    emit(args, {"method": trained.method, "input": str(args.input), "output": str(out_path),
                 "model": str(args.model), "total_seconds": round(time.perf_counter() - t0, 3),
                 **noise})
    return 0


def cmd_eval(args) -> int:
    """Train on NOISY, score input and result against CLEAN."""
    from .core.metrics import score

    t0 = time.perf_counter()
    check_noise_flags(args)
    if args.output:
        from .io.images import check_output_path

        check_output_path(args.output, [args.noisy, args.clean])
    data, axes = load(args.noisy, args.axes)
    clean, _ = load(args.clean, axes)
    if tuple(clean.shape) != tuple(data.shape):
        raise InputError(f"clean image shape {tuple(clean.shape)} differs from noisy "
                         f"{tuple(data.shape)}")
    trained, result, _ = train_and_predict(data, axes, args)
    if args.output:
        from .io import write_image

        write_image(args.output, result, axes)
    clean = np.asarray(clean, np.float32)
    before, after = score(np.asarray(data, np.float32), clean), score(result, clean)
    summary = {"method": trained.method, "noisy": str(args.noisy), "clean": str(args.clean),
               "steps": trained.info["steps"], "train_seconds": trained.info["train_seconds"],
               "total_seconds": round(time.perf_counter() - t0, 3),
               **{f"input_{k}": round(v, 4) for k, v in before.items()},
               **{f"result_{k}": round(v, 4) for k, v in after.items()},
               "output": args.output}
    if not args.json:
        print(f"{'':10s}{'PSNR':>9s}{'SSIM':>8s}{'PSNR fit':>10s}{'SSIM fit':>10s}")
        for name, s in (("input", before), ("result", after)):
            print(f"{name:10s}{s['psnr']:9.2f}{s['ssim']:8.4f}{s['psnr_fit']:10.2f}"
                  f"{s['ssim_fit']:10.4f}")
    emit(args, summary)
    return 0


def cmd_demo(args) -> int:
    """Denoise the embedded sample; write the result and a side-by-side PNG."""
    from .core.metrics import psnr
    from .io import write_image
    from .sample_data import load_sample

    t0 = time.perf_counter()
    check_noise_flags(args)
    noisy, clean = load_sample()
    out_dir = Path(args.out)
    args.axes = "YX"
    trained, result, _ = train_and_predict(noisy, "YX", args)
    denoised = write_image(out_dir / "denoised.tif", result, "YX")
    png = _side_by_side(out_dir / "comparison.png", noisy, result, clean)
    p_in, p_out = psnr(noisy, clean), psnr(result, clean)
    emit(args, {"method": trained.method, "steps": trained.info["steps"],
                 "train_seconds": trained.info["train_seconds"],
                 "total_seconds": round(time.perf_counter() - t0, 3),
                 "psnr_noisy": round(p_in, 2), "psnr_denoised": round(p_out, 2),
                 "output": str(denoised), "comparison": str(png)})
    if args.gui:
        _show_in_napari(noisy, clean, result, trained.method)
    return 0


def _side_by_side(path: Path, noisy, result, clean) -> Path:
    import imageio.v3 as iio

    from .core.atomic import replace_path, tmp_sibling

    lo, hi = np.percentile(clean, [0.5, 99.8])
    panels = [np.asarray(a, np.float32) for a in (noisy, result, clean)]
    gap = np.full((panels[0].shape[0], 8), hi, np.float32)
    row = np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1)
    img = (np.clip((row - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    iio.imwrite(tmp, img, extension=".png")
    replace_path(tmp, path)
    return path


def _show_in_napari(noisy, clean, result, method) -> None:
    import napari

    viewer = napari.Viewer()
    lo, hi = np.percentile(clean, [0.1, 99.9])
    viewer.add_image(clean, name="nuclei clean (reference)", contrast_limits=(lo, hi),
                     visible=False)
    viewer.add_image(noisy, name="nuclei noisy", contrast_limits=(lo, hi))
    viewer.add_image(result, name=f"nuclei noisy {method}", contrast_limits=(lo, hi))
    napari.run()


# -- entry point ----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The ``blind-denoise`` argument parser."""
    p = argparse.ArgumentParser(prog="blind-denoise", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("denoise", help="train on an image and write the denoised image")
    d.add_argument("input")
    d.add_argument("-o", "--output", required=True, help="output .tif/.tiff or .zarr")
    add_train_flags(d)
    add_noise_out(d)
    d.set_defaults(func=cmd_denoise)

    r = sub.add_parser("predict", help="apply a saved model")
    r.add_argument("input")
    r.add_argument("--model", required=True, metavar="DIR")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--axes")
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    add_common(r)
    add_noise_out(r)
    r.set_defaults(func=cmd_predict)

    e = sub.add_parser("eval", help="train on a noisy image and score it against a clean one")
    e.add_argument("--noisy", required=True)
    e.add_argument("--clean", required=True)
    e.add_argument("-o", "--output", help="also write the denoised image")
    add_train_flags(e)
    e.set_defaults(func=cmd_eval)

    m = sub.add_parser("demo", help="denoise the embedded sample (about a minute on a CPU)")
    add_train_flags(m, method_required=False)
    m.set_defaults(time_budget=40.0)
    m.add_argument("--out", default="demo-output", help="output folder")
    m.add_argument("--gui", action="store_true", help="open napari with the sample and result")
    m.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (BlindDenoiseError, ValueError, FileNotFoundError, PermissionError,
            IsADirectoryError, NotADirectoryError) as exc:
        if args.debug:
            raise
        msg = " ".join(str(exc).split())
        print(f"blind-denoise: error: {msg}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("blind-denoise: interrupted; no output written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
