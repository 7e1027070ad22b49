"""``blind-denoise``: train, predict, evaluate and demo from the command line.

Bad input ends with exit code 2 and one line on stderr, never a traceback. With ``--json``
the last line of stdout is a JSON summary. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .core.config import NOISE_MODEL_KINDS
from .core.errors import BlindDenoiseError, InputError
from .core.methods import METHODS, method_ids

EXIT_BAD_INPUT = 2


class _Progress:
    """Prints a progress line to stderr at most every ``every`` seconds."""

    def __init__(self, quiet: bool, every: float = 2.0) -> None:
        self.quiet, self.every, self.last = quiet, every, -1e9

    def train(self, ev) -> None:
        now = time.perf_counter()
        if self.quiet or (now - self.last < self.every and ev.progress < 1):
            return
        self.last = now
        val = f" val {ev.val_loss:.5f}" if ev.val_loss is not None else ""
        print(f"train {ev.progress:5.1%} step {ev.step} loss {ev.loss:.5f}{val} "
              f"lr {ev.lr:.1e} {ev.elapsed:.1f}s {ev.patches_per_s:.0f} patches/s",
              file=sys.stderr, flush=True)

    def predict(self, ev) -> None:
        now = time.perf_counter()
        if self.quiet or (now - self.last < self.every and ev.tile < ev.n_tiles):
            return
        self.last = now
        print(f"predict tile {ev.tile}/{ev.n_tiles} {ev.elapsed:.1f}s", file=sys.stderr,
              flush=True)


# -- shared pieces --------------------------------------------------------------------------

def _add_train_flags(p: argparse.ArgumentParser, method_required: bool = True) -> None:
    p.add_argument("--method", choices=method_ids(), required=method_required,
                   default=None if method_required else "n2v", help="denoising method")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, TYX, CYX (default: from "
                   "file metadata, else guessed)")
    p.add_argument("--preset", choices=("cpu", "gpu"), default=None,
                   help="network size and step budget (default: gpu on a GPU, else cpu)")
    p.add_argument("--steps", type=int, help="maximum optimiser steps")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="stop training after this many seconds")
    p.add_argument("--patch-size", type=int, help="training patch edge in pixels")
    p.add_argument("--batch-size", type=int, help="patches per step")
    p.add_argument("--lr", type=float, help="peak learning rate")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-model", metavar="DIR", help="also save the trained model here")
    p.add_argument("--noise-model", choices=NOISE_MODEL_KINDS, default=None,
                   help="nnet only: noise distribution of the N-net (default gaussian)")
    _add_common(p)


def _add_noise_out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--noise-out", metavar="DIR",
                   help="nnet only: write noise_std.tif, noise_curve.csv and noise_model.json "
                   "here")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tile-size", type=int, default=512, help="prediction tile edge")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def _config(args):
    from .core.device import pick_device
    from .core.methods import default_config

    device = pick_device(args.device)
    preset = args.preset or ("cpu" if device.type == "cpu" else "gpu")
    over = {"seed": args.seed}
    for flag, field in (("steps", "steps"), ("time_budget", "time_budget"),
                        ("patch_size", "patch_size"), ("batch_size", "batch_size"),
                        ("lr", "learning_rate")):
        if getattr(args, flag) is not None:
            over[field] = getattr(args, flag)
    if args.time_budget is not None and args.steps is None:
        over["steps"] = 10**9  # the clock decides
    return default_config(args.method, preset, noise_model=args.noise_model, **over), device


def _tile_config(args):
    from .core import TileConfig

    return TileConfig(tile_size=args.tile_size, overlap=min(48, args.tile_size // 4))


def _train_and_predict(data, axes, args, out=None):
    from .core import predict, save_model, train

    tile = _tile_config(args)  # validated before any training
    config, device = _config(args)
    prog = _Progress(args.quiet)
    gen = train(data, axes, config, device=device)
    trained = _drain(gen, prog.train)
    if args.save_model:
        save_model(trained, args.save_model)
    t0 = time.perf_counter()
    result = _drain(predict(trained, data, trained.axes, tile=tile, out=out, device=device),
                    prog.predict)
    return trained, result, time.perf_counter() - t0


def _drain(gen, on_event):
    while True:
        try:
            on_event(next(gen))
        except StopIteration as stop:
            return stop.value


def _check_noise_flags(args) -> None:
    """Refuse noise-model options for methods without a noise model (before any work)."""
    method = METHODS[args.method]
    for flag, value in (("--noise-model", getattr(args, "noise_model", None)),
                        ("--noise-out", getattr(args, "noise_out", None))):
        if value is not None and not method.noise_model:
            raise InputError(f"{flag} needs a method with a noise model (nnet), "
                             f"not {args.method}")
    if getattr(args, "noise_out", None):
        from .io.noise_files import check_noise_dir

        check_noise_dir(args.noise_out)


def _noise_outputs(args, trained, denoised, axes) -> dict:
    """Write the ``--noise-out`` files; summary keys for the JSON output."""
    if not getattr(args, "noise_out", None):
        return {}
    from .io.noise_files import write_noise_outputs

    s = write_noise_outputs(trained, denoised, axes, args.noise_out,
                            on_event=_Progress(args.quiet).predict)
    return {"noise_out": str(args.noise_out), "noise_model": s["kind"],
            "noise_a": s["a"], "noise_b": s["b"]}


def _load(path: str, axes: str | None):
    from .core.validate import check_image
    from .io import read_image

    data, file_axes = read_image(path)
    layout = check_image(data, axes or file_axes)
    return data, layout.axes


def _emit(args, summary: dict) -> None:
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")


# -- commands -------------------------------------------------------------------------------

def cmd_denoise(args) -> int:
    """Train on INPUT, predict, write OUTPUT."""
    from .io import open_output
    from .io.images import check_output_path

    t0 = time.perf_counter()
    _check_noise_flags(args)
    out_path = check_output_path(args.output, [args.input])
    data, axes = _load(args.input, args.axes)
    out = open_output(out_path, tuple(data.shape), axes, attrs={"method": args.method})
    try:
        trained, _, pred_s = _train_and_predict(data, axes, args, out=out.array)
        noise = _noise_outputs(args, trained, out.array, axes)
        out.commit()
    finally:
        out.abort()
    _emit(args, {
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
        _drain(predict(trained, data, axes, tile=_tile_config(args), out=out.array,
                       device=device), _Progress(args.quiet).predict)
        noise = _noise_outputs(args, trained, out.array, axes)
        out.commit()
    finally:
        out.abort()
    _emit(args, {"method": trained.method, "input": str(args.input), "output": str(out_path),
                 "model": str(args.model), "total_seconds": round(time.perf_counter() - t0, 3),
                 **noise})
    return 0


def cmd_eval(args) -> int:
    """Train on NOISY, score input and result against CLEAN."""
    from .core.metrics import score

    t0 = time.perf_counter()
    _check_noise_flags(args)
    if args.output:
        from .io.images import check_output_path

        check_output_path(args.output, [args.noisy, args.clean])
    data, axes = _load(args.noisy, args.axes)
    clean, _ = _load(args.clean, axes)
    if tuple(clean.shape) != tuple(data.shape):
        raise InputError(f"clean image shape {tuple(clean.shape)} differs from noisy "
                         f"{tuple(data.shape)}")
    trained, result, _ = _train_and_predict(data, axes, args)
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
    _emit(args, summary)
    return 0


def cmd_demo(args) -> int:
    """Denoise the embedded sample; write the result and a side-by-side PNG."""
    from .core.metrics import psnr
    from .io import write_image
    from .sample_data import load_sample

    t0 = time.perf_counter()
    _check_noise_flags(args)
    noisy, clean = load_sample()
    out_dir = Path(args.out)
    args.axes = "YX"
    trained, result, _ = _train_and_predict(noisy, "YX", args)
    denoised = write_image(out_dir / "denoised.tif", result, "YX")
    png = _side_by_side(out_dir / "comparison.png", noisy, result, clean)
    p_in, p_out = psnr(noisy, clean), psnr(result, clean)
    _emit(args, {"method": trained.method, "steps": trained.info["steps"],
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
    _add_train_flags(d)
    _add_noise_out(d)
    d.set_defaults(func=cmd_denoise)

    r = sub.add_parser("predict", help="apply a saved model")
    r.add_argument("input")
    r.add_argument("--model", required=True, metavar="DIR")
    r.add_argument("-o", "--output", required=True)
    r.add_argument("--axes")
    r.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    _add_common(r)
    _add_noise_out(r)
    r.set_defaults(func=cmd_predict)

    e = sub.add_parser("eval", help="train on a noisy image and score it against a clean one")
    e.add_argument("--noisy", required=True)
    e.add_argument("--clean", required=True)
    e.add_argument("-o", "--output", help="also write the denoised image")
    _add_train_flags(e)
    e.set_defaults(func=cmd_eval)

    m = sub.add_parser("demo", help="denoise the embedded sample (about a minute on a CPU)")
    _add_train_flags(m, method_required=False)
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
