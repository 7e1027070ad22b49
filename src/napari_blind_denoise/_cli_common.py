"""Pieces shared by the ``blind-denoise`` commands: flags, config, progress, loading."""

from __future__ import annotations

import argparse
import json
import sys
import time

from .core.config import NOISE_MODEL_KINDS
from .core.errors import InputError
from .core.methods import METHODS, method_ids


class Progress:
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

def add_train_flags(p: argparse.ArgumentParser, method_required: bool = True) -> None:
    """Method, axes, preset, budget and optimiser flags (``denoise``, ``eval``, ``demo``)."""
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
    add_common(p)


def add_noise_out(p: argparse.ArgumentParser) -> None:
    """The ``--noise-out DIR`` flag."""
    p.add_argument("--noise-out", metavar="DIR",
                   help="nnet only: write noise_std.tif, noise_curve.csv and noise_model.json "
                   "here")


def add_common(p: argparse.ArgumentParser) -> None:
    """Flags every command has: tile size, ``--json``, ``--quiet``."""
    p.add_argument("--tile-size", type=int, default=512, help="prediction tile edge")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")


def make_config(args):
    """The :class:`DenoiseConfig` and device the flags ask for."""
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


def tile_config(args):
    """The prediction tiling the flags ask for (validated before any training)."""
    from .core import TileConfig

    return TileConfig(tile_size=args.tile_size, overlap=min(48, args.tile_size // 4))


def train_and_predict(data, axes, args, out=None):
    """Train on ``data``, predict it (into ``out`` if given); ``(trained, result, seconds)``."""
    from .core import predict, save_model, train

    tile = tile_config(args)  # validated before any training
    config, device = make_config(args)
    prog = Progress(args.quiet)
    gen = train(data, axes, config, device=device)
    trained = drain(gen, prog.train)
    if args.save_model:
        save_model(trained, args.save_model)
    t0 = time.perf_counter()
    result = drain(predict(trained, data, trained.axes, tile=tile, out=out, device=device),
                    prog.predict)
    return trained, result, time.perf_counter() - t0


def drain(gen, on_event):
    """Run a progress generator to the end, passing each event on; its return value."""
    while True:
        try:
            on_event(next(gen))
        except StopIteration as stop:
            return stop.value


def check_noise_flags(args) -> None:
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


def noise_outputs(args, trained, denoised, axes) -> dict:
    """Write the ``--noise-out`` files; summary keys for the JSON output."""
    if not getattr(args, "noise_out", None):
        return {}
    from .io.noise_files import write_noise_outputs

    s = write_noise_outputs(trained, denoised, axes, args.noise_out,
                            on_event=Progress(args.quiet).predict)
    return {"noise_out": str(args.noise_out), "noise_model": s["kind"],
            "noise_a": s["a"], "noise_b": s["b"]}


def load(path: str, axes: str | None):
    """Read an image and check it; ``(array, axes)``."""
    from .core.validate import check_image
    from .io import read_image

    data, file_axes = read_image(path)
    layout = check_image(data, axes or file_axes)
    return data, layout.axes


def emit(args, summary: dict) -> None:
    """Print the summary: one JSON line with ``--json``, else ``key: value`` lines."""
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
