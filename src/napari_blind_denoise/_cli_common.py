"""Pieces shared by the ``blind-denoise`` commands: flags, config, progress, loading."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from .core.channels import DEFAULT_CHANNELS
from .core.config import CHANNEL_MODES, NOISE_FITS, BlendConfig
from .core.data.exclude import IMPULSE_SIGMAS
from .core.device import DEVICE_CHOICES
from .core.dims import AUTO_MIN_DEPTH
from .core.errors import InputError
from .core.methods import (
    METHODS,
    PRESETS,
    default_config,
    get_method,
    method_ids,
    output_groups,
)
from .core.methods.blend import describe as describe_blend


class Progress:
    """Prints a progress line to stderr at most every ``every`` seconds."""

    def __init__(self, quiet: bool, every: float = 2.0) -> None:
        self.quiet, self.every, self.last = quiet, every, -1e9
        self.label = ""  # what is being predicted (several files: " 2/5 b.tif")

    def train(self, ev) -> None:
        now = time.perf_counter()
        if self.quiet or (now - self.last < self.every and ev.progress < 1):
            return
        self.last = now
        val = f" val {ev.val_loss:.5f}" if ev.val_loss is not None else ""
        # no optimiser (a calibrated filter): no learning rate, no patch throughput
        lr = f" lr {ev.lr:.1e}" if ev.lr else ""
        rate = f" {ev.patches_per_s:.0f} patches/s" if ev.lr else ""
        print(f"train {ev.progress:5.1%} step {ev.step} loss {ev.loss:.5f}{val}{lr} "
              f"{ev.elapsed:.1f}s{rate}", file=sys.stderr, flush=True)

    def predict(self, ev) -> None:
        now = time.perf_counter()
        if self.quiet or (now - self.last < self.every and ev.tile < ev.n_tiles):
            return
        self.last = now
        print(f"predict{self.label} tile {ev.tile}/{ev.n_tiles} {ev.elapsed:.1f}s", file=sys.stderr,
              flush=True)


# -- shared pieces --------------------------------------------------------------------------

def _noise_model_kinds() -> list[str]:
    kinds: list[str] = []
    for method in METHODS.values():
        kinds += [k for k in method.noise_model_kinds if k not in kinds]
    return kinds


def add_train_flags(p: argparse.ArgumentParser, method_required: bool = True) -> None:
    """Method, axes, preset, budget and optimiser flags (``denoise``, ``eval``, ``demo``)."""
    p.add_argument("--method", choices=method_ids(), required=method_required,
                   default=None if method_required else "n2v", help="denoising method")
    p.add_argument("--axes", help="axes of the input, e.g. YX, ZYX, TYX, CYX (default: from "
                   "file metadata, else guessed)")
    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="network size and step budget (default: gpu on a GPU, else cpu)")
    p.add_argument("--steps", type=int, help="maximum optimiser steps")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="stop training after this many seconds")
    p.add_argument("--patch-size", type=int, help="training patch edge in pixels")
    p.add_argument("--batch-size", type=int, help="patches per step")
    p.add_argument("--lr", type=float, help="peak learning rate")
    add_device(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--blind-spot", metavar="auto|pixel|HxW", default=None,
                   help="n2v/n2s/nnet/classical/bsn: what is hidden around each masked pixel: auto "
                   "(default: from the noise correlation measured on the image), pixel, or a "
                   "block such as 1x5 or 3x3 for noise correlated between neighbouring pixels")
    shuffles = ", ".join(m.id for m in METHODS.values() if m.downsamples)
    p.add_argument("--downsample", metavar="auto|1|2|3|…", type=_downsample, default=None,
                   help=f"{shuffles} only: pixel-shuffle downsampling. Train on the sub-images "
                   "taken with this stride from every training window (one-pixel blind spot; "
                   "prediction at full resolution): 1 (default: off), a stride, or auto (the "
                   "measured noise correlation's extent + 1 when the noise is correlated, else "
                   "1); replaces the blind-spot block")
    in_3d = ", ".join(m.id for m in METHODS.values() if 3 in m.spatial_dims)
    p.add_argument("--dims", choices=("auto", "2", "3"), default=None,
                   help=f"{in_3d}: a 2-D network (each Z plane denoised on its own; the "
                   f"default) or a 3-D one for ZYX volumes; auto picks 3-D for stacks of at "
                   f"least {AUTO_MIN_DEPTH} Z planes, 2-D otherwise (other methods: 2-D)")
    p.add_argument("--channels", choices=CHANNEL_MODES, default=None,
                   help=CHANNELS_HELP)
    missing = ", ".join(m.id for m in METHODS.values() if m.accepts_missing)
    p.add_argument("--exclude-mask", metavar="PATH",
                   help=f"{missing} only: an image of the input's shape whose non-zero pixels "
                   "are known to be corrupted (dead/hot pixels, a damaged region): never used "
                   "in training, filled in by the result (NaN pixels always are)")
    p.add_argument("--exclude-above", type=float, metavar="VALUE",
                   help=f"{missing} only: treat values >= VALUE (saturated) the same way")
    p.add_argument("--exclude-below", type=float, metavar="VALUE",
                   help=f"{missing} only: treat values <= VALUE (dead pixels, pepper) the "
                   "same way")
    p.add_argument("--exclude-impulses", action="store_true",
                   help=f"{missing} only: find salt-and-pepper pixels and treat them the same "
                   "way: pixels at the image's minimum or maximum that differ from the median "
                   f"of their 8 neighbours by more than {IMPULSE_SIGMAS:g} times the noise's "
                   "robust standard deviation (docs/methods.md)")
    p.add_argument("--save-model", metavar="DIR", help="also save the trained model here")
    blends = ", ".join(m.id for m in METHODS.values() if m.blends)
    p.add_argument("--blend", choices=("auto", "off"), default=None,
                   help=f"{blends} only: blend the network's output with a Gaussian blur, "
                   "both calibrated after training by the self-supervised J-invariant loss "
                   "on the network's own blind spot (auto, the default; the weight can come "
                   "out as 1, the network alone), or the network alone (off)")
    p.add_argument("--no-yardstick", action="store_true",
                   help="skip comparing the trained network with a calibrated classical "
                   "filter by their self-supervised loss (a few seconds after training)")
    with_noise = [m.id for m in METHODS.values() if m.noise_model]
    kinds = "; ".join(f"{m.id} {m.noise_model_kinds[0]}" for m in METHODS.values()
                      if m.noise_model)
    p.add_argument("--noise-model", choices=_noise_model_kinds(), default=None,
                   help=f"{', '.join(with_noise)} only: the learned noise distribution "
                   f"(default: {kinds}; gaussian with --noise-sigma)")
    known = ", ".join(f"{m.id} with --noise-model {'|'.join(m.known_sigma_kinds)}"
                      for m in METHODS.values() if m.known_sigma_kinds)
    p.add_argument("--noise-sigma", type=float, metavar="S", default=None,
                   help=f"{known} only: a known noise standard deviation in image intensity "
                   "units, used instead of learning it")
    estimating = [m for m in METHODS.values() if m.estimated_kinds]
    estimated = ", ".join(f"{m.id} with --noise-model {'|'.join(m.estimated_kinds)}"
                          for m in estimating)
    defaults = "; ".join(f"{m.id}: estimate for {'|'.join(m.estimated_by_default)}, learn "
                         "otherwise" for m in estimating)
    p.add_argument("--noise-fit", choices=NOISE_FITS, default=None,
                   help=f"{estimated} only: learn the noise parameters with the network "
                   f"(learn), estimate them from the noisy data when training starts and "
                   f"hold them (estimate), or have a small auxiliary network estimate them "
                   f"per image, for noise whose level changes between images (network) "
                   f"(default {defaults})")
    add_inference(p)
    add_common(p)


CHANNELS_HELP = (
    "images with several channels (a C axis): one model for all channels (joint: the "
    "channels are the network's input and output) or one model per channel (separate: each "
    "trained on its channel alone; the steps and time budget are shared between them). "
    f"Default {DEFAULT_CHANNELS}: each channel is then denoised as it would be alone, while "
    "one model for all channels did worse on some channel with n2v, n2s and nnet at the "
    "same steps (docs/methods.md, Channels); joint can do better where the channels share "
    "their structure")


def _extra_inputs() -> dict[str, tuple[list[str], str]]:
    """``--<name>`` input flags of the registered methods -> (method ids, help)."""
    found: dict[str, tuple[list[str], str]] = {}
    for method in METHODS.values():
        for extra in method.extra_inputs:
            found.setdefault(extra.name, ([], extra.help))[0].append(method.id)
    return found


def _paired() -> list[str]:
    return [m.id for m in METHODS.values() if m.inputs == 2]


def add_pair_flags(p: argparse.ArgumentParser) -> None:
    """One ``--<name> PATH`` flag per further input the registered methods declare
    (``--pair``), and ``--pairs-from AXIS`` for methods trained on pairs."""
    for name, (ids, text) in _extra_inputs().items():
        p.add_argument(f"--{name}", metavar="PATH", dest=f"input_{name}",
                       help=f"{', '.join(ids)} only: {text} (a file of the input's shape)")
    p.add_argument("--pairs-from", metavar="AXIS", default=None,
                   help=f"{', '.join(_paired())} only: pair each frame with the next along "
                   "AXIS (T: a time-lapse whose scene barely moves between frames) instead "
                   "of a second file; every frame is denoised")


def pair_paths(args) -> list[str]:
    """The further input files named on the command line (``--pair``...)."""
    return [v for name in _extra_inputs()
            if (v := getattr(args, f"input_{name}", None)) is not None]


def check_pair_flags(args, method) -> None:
    """Refuse pair flags for a method trained on one image, and a method trained on pairs
    without them (before any work)."""
    given = [n for n in _extra_inputs() if getattr(args, f"input_{n}", None) is not None]
    from_axis = getattr(args, "pairs_from", None)
    flags = [f"--{n}" for n in given] + (["--pairs-from"] if from_axis else [])
    if flags and method.inputs < 2:
        raise InputError(f"{flags[0]} needs a method trained on pairs "
                         f"({', '.join(_paired())}), not {method.id}")
    if method.inputs < 2:
        return
    wanted = [e.name for e in method.extra_inputs]
    if not hasattr(args, "pairs_from"):  # a command without pair flags (demo)
        raise InputError(f"method {method.id} trains on pairs of noisy acquisitions of the "
                         "same field, and this command has one image: use blind-denoise "
                         f"denoise IMAGE --method {method.id} --pair OTHER (or --pairs-from T)")
    if from_axis and given:
        raise InputError(f"give either {' '.join(flags[:-1])} or --pairs-from, not both")
    if not from_axis and sorted(given) != sorted(wanted):
        need = " ".join(f"--{n} PATH" for n in wanted)
        raise InputError(f"method {method.id} trains on pairs of noisy acquisitions of the "
                         f"same field: give {need} (a second acquisition), or --pairs-from T "
                         "for a time-lapse whose scene barely moves")


def training_inputs(args, data, axes: str):
    """``(what to train on, what to denoise)``: the image itself for a method trained on
    one image; for one trained on pairs the image with its ``--pair`` file(s) (denoising
    the image), or its neighbouring frames along ``--pairs-from`` (denoising every frame).

    Raises
    ------
    InputError
        A pair file whose shape differs from the image's; no such axis or one frame.
    """
    from .core.data.pairs import neighbour_frames

    method = get_method(args.method)
    if method.inputs < 2:
        return data, data
    if getattr(args, "pairs_from", None):
        return neighbour_frames(data, axes, args.pairs_from), data
    from .core.data.validate import check_image
    from .io import read_image

    others = []
    for extra in method.extra_inputs:
        path = getattr(args, f"input_{extra.name}")
        other, _ = read_image(path)
        if tuple(other.shape) != tuple(data.shape):
            raise InputError(f"--{extra.name} {path} has shape {tuple(other.shape)}, the "
                             f"input {tuple(data.shape)}; the pair must be of one shape")
        check_image(other, axes)
        others.append(other)
    return (data, *others), data


def _downsample(text: str) -> int | str:
    """``--downsample``'s value (``auto`` or a stride >= 1); argparse reports the error."""
    from .core.config import parse_downsample

    try:
        return parse_downsample(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_inference(p: argparse.ArgumentParser) -> None:
    """The ``--inference`` flag: an inference mode of the method (checked before any work)."""
    modes = "; ".join(f"{m.id}: {'|'.join(m.inference_modes(default_config(m.id)))}"
                      for m in METHODS.values())
    p.add_argument("--inference", metavar="MODE", default=None,
                   help=f"how the trained network predicts (default: the method's first mode; "
                   f"{modes})")


def add_device(p: argparse.ArgumentParser) -> None:
    """The ``--device`` flag."""
    p.add_argument("--device", default="auto", metavar="|".join((*DEVICE_CHOICES, "cuda:N")),
                   help="compute device (default: auto = CUDA, then Apple MPS, then CPU)")


def add_dask(p: argparse.ArgumentParser) -> None:
    """``--dask-scheduler`` / ``--dask-workers``: predict on dask.distributed workers."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="predict on the workers of the dask cluster whose scheduler is at "
                   "ADDRESS (e.g. tcp://10.0.0.5:8786; needs the [distributed] extra, "
                   "docs/distributed.md); the result is bitwise that of one process")
    g.add_argument("--dask-workers", type=int, metavar="N",
                   help="predict on a local dask cluster of N worker processes, one thread "
                   "each (needs the [distributed] extra)")
    p.add_argument("--dask-torch-threads", type=int, metavar="N",
                   help="torch threads per dask worker task (default: the worker's, at least "
                   "2 when this machine has several cores: needed for a result bitwise equal "
                   "to one process's; 1 gives last-bit differences then)")


@contextmanager
def dask_context(args):
    """With ``--dask-scheduler``/``--dask-workers``: a dask client open for the command,
    its predictor in ``args.predictor`` (else ``None``)."""
    scheduler = getattr(args, "dask_scheduler", None)
    workers = getattr(args, "dask_workers", None)
    args.predictor = None
    if scheduler is None and workers is None:
        if getattr(args, "dask_torch_threads", None) is not None:
            raise InputError("--dask-torch-threads needs --dask-scheduler or --dask-workers")
        yield
        return
    from .distributed import DaskPredictor, open_client

    with open_client(scheduler, workers) as client:
        args.predictor = DaskPredictor(client, getattr(args, "device", "auto"),
                                       getattr(args, "dask_torch_threads", None))
        yield


def add_output_flags(p: argparse.ArgumentParser) -> None:
    """One ``--<group>-out`` flag per output group of the registered methods: a folder, or
    for a group in which every method writes one image (``uncertainty``) also that image's
    ``.tif``/``.zarr`` path."""
    for group, ids in output_groups().items():
        per_method = [[o for o in METHODS[m].outputs() if o.group == group and o.files]
                      for m in ids]
        outs = {(o.name, o.kind) for m_outs in per_method for o in m_outs}
        files = sorted(f"{name}.{_SUFFIX[kind]}" for name, kind in outs)
        if all(len(m_outs) == 1 and m_outs[0].kind == "image" for m_outs in per_method):
            p.add_argument(f"--{group}-out", metavar="PATH", dest=f"{group}_out",
                           help=f"{', '.join(ids)} only: write the {group} image to this "
                           f".tif/.zarr path, or as {' / '.join(files)} into this folder")
        else:
            p.add_argument(f"--{group}-out", metavar="DIR", dest=f"{group}_out",
                           help=f"{', '.join(ids)} only: write {', '.join(files)} here")


def group_file(path, outputs) -> bool:
    """True when a group's ``--<group>-out`` names the file of the group's one image output
    (a ``.tif``/``.tiff``/``.zarr`` path), not a folder.

    Raises
    ------
    InputError
        A file path for a group that writes several files.
    """
    from .io.images import OUTPUT_SUFFIXES

    if Path(path).suffix.lower() not in OUTPUT_SUFFIXES:
        return False
    if len(outputs) == 1 and outputs[0].kind == "image":
        return True
    files = ", ".join(f"{o.name}.{_SUFFIX[o.kind]}" for o in outputs)
    raise InputError(f"--{outputs[0].group}-out takes a folder ({files} are written there), "
                     f"not {path}")


_SUFFIX = {"image": "tif", "curve": "csv", "table": "json"}


def add_common(p: argparse.ArgumentParser) -> None:
    """Flags every command has: tile size, ``--json``, ``--quiet``."""
    p.add_argument("--tile-size", type=int, default=512, help="prediction tile edge")
    p.add_argument("--tta", nargs="?", const="on", default="auto", choices=("auto", "on", "off"),
                   help="test-time augmentation: average the prediction over the flips/"
                   "rotations the model trained with (4 or 8x the prediction time). auto "
                   "(default): on for n2v/n2s/nnet when the extra passes stay under "
                   "16 megapixels; --tta alone: on")
    p.add_argument("--memory-budget", type=_budget, metavar="MB", default=None,
                   help="MB that prediction may hold in RAM at once, whatever the size of the "
                   "stack (default: a quarter of the available memory, at least 256); the "
                   "tile edge is lowered when needed. Zarr, .npy and TIFF inputs larger than "
                   "the budget, and every output, stream plane by plane; PNG/JPEG inputs are "
                   "read whole")
    p.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing files napari-blind-denoise did not write (never a "
                   "folder with foreign content, never an input)")


def _budget(text: str) -> float:
    """``--memory-budget``'s value (MB > 0); argparse reports the error."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of MB, got {text!r}")
    return value


def memory_budget(args) -> float:
    """The ``--memory-budget`` asked for, or the default (a fraction of available memory)."""
    from .core.memory import default_budget_mb

    if getattr(args, "memory_budget", None) is None:
        args.memory_budget = float(default_budget_mb())
    return args.memory_budget


def whole_below(args) -> int:
    """Bytes up to which a TIFF input or output is held whole: the memory budget. Larger
    ones stream (``io.images``)."""
    return int(memory_budget(args) * 2**20)


def memory_warnings(args, data, out_paths) -> None:
    """Warn (stderr) when an input held whole exceeds the memory budget (PNG/JPEG: the only
    formats read whole whatever their size; TIFF, zarr and .npy inputs and every output
    stream beyond it). ``out_paths``: kept for the callers, every output streams."""
    import numpy as np

    budget = memory_budget(args)
    if isinstance(data, np.ndarray) and not isinstance(data, np.memmap) \
            and data.nbytes / 2**20 > budget:
        print(f"blind-denoise: warning: the input ({data.nbytes / 2**20:.0f} MB) is read "
              f"whole, beyond the memory budget of {budget:g} MB; use a TIFF or zarr input "
              "to stream the stack", file=sys.stderr, flush=True)


def memory_summary(args, result) -> dict:
    """JSON-summary keys: the memory budget, the tiling chosen within it, and whether
    prediction averaged over the flips/rotations (``tta``, resolved)."""
    plan = result.memory
    return {"memory_budget_mb": memory_budget(args),
            "predict_tile": plan.tile_size if plan else None,
            "predict_memory_mb": round(plan.estimate_mb, 1) if plan else None,
            "tta": result.tta}


def make_config(args):
    """The :class:`DenoiseConfig` and device the flags ask for."""
    from .core.device import pick_device

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
    config = default_config(args.method, preset, noise_model=args.noise_model,
                            noise_sigma=getattr(args, "noise_sigma", None),
                            noise_fit=getattr(args, "noise_fit", None), **over)
    if args.blind_spot is not None:
        config = replace(config, mask=replace(config.mask, blind_spot=args.blind_spot))
    if getattr(args, "downsample", None) is not None:
        config = replace(config, mask=replace(config.mask, downsample=args.downsample))
    config = replace(config, model=_model_flags(config.model, args))
    if getattr(args, "blend", None) is not None:
        if not get_method(args.method).blends:
            blends = [m.id for m in METHODS.values() if m.blends]
            raise ValueError(f"--blend applies to {', '.join(blends)}, not {args.method}")
        config = replace(config, blend=BlendConfig(mode=args.blend))
    if getattr(args, "inference", None) is not None:
        get_method(args.method).check_mode(config, args.inference)
    return config, device


def _model_flags(model, args):
    """``model`` (a :class:`ModelConfig`) with ``--dims`` and ``--channels`` as given."""
    for flag in ("dims", "channels"):
        if getattr(args, flag, None) is not None:
            model = replace(model, **{flag: getattr(args, flag)})
    return model


def tile_config(args):
    """The prediction tiling the flags ask for (validated before any training)."""
    from .core import TileConfig

    tta = {"on": True, "off": False}.get(args.tta, "auto")
    return TileConfig.for_size(args.tile_size, tta=tta, memory_budget=memory_budget(args))


def drain(gen, on_event):
    """Run a progress generator to the end, passing each event on; its return value."""
    while True:
        try:
            on_event(next(gen))
        except StopIteration as stop:
            return stop.value


def requested_outputs(args, method, inputs=()) -> dict[str, list]:
    """``--<group>-out`` groups asked for -> the method's outputs written to files.

    Raises
    ------
    InputError
        A flag names a group the method has no outputs in, or a path that is not a folder.
    """
    from .io.images import check_output_path
    from .io.outputs import check_group_folder

    groups = {}
    for group, ids in output_groups().items():
        folder = getattr(args, f"{group}_out", None)
        if folder is None:
            continue
        outs = [o for o in method.outputs() if o.group == group and o.files]
        if not outs:
            raise InputError(f"--{group}-out needs a method with {group} outputs "
                             f"({', '.join(ids)}), not {method.id}")
        if group_file(folder, outs):
            check_output_path(folder, [i for i in inputs if i is not None])
        else:
            check_group_folder(folder, outs, inputs, flag=f"--{group}-out",
                               overwrite=args.overwrite)
        groups[group] = outs
    return groups


def check_flags(args, inputs=()) -> dict[str, list]:
    """Refuse options the chosen method has no use for, and outputs that would replace an
    input or data this program did not write (before any work); the requested output
    groups."""
    method = get_method(args.method)
    if getattr(args, "noise_model", None) is not None and not method.noise_model:
        with_noise = ", ".join(m.id for m in METHODS.values() if m.noise_model)
        raise InputError(f"--noise-model needs a method with a noise model ({with_noise}), "
                         f"not {args.method}")
    if getattr(args, "downsample", None) not in (None, 1) and not method.downsamples:
        shuffles = ", ".join(m.id for m in METHODS.values() if m.downsamples)
        raise InputError(f"--downsample needs a method that trains on pixel-shuffle "
                         f"sub-images ({shuffles}), not {args.method}")
    excluding = exclusion_flags(args)
    if excluding and not method.accepts_missing:
        missing = ", ".join(m.id for m in METHODS.values() if m.accepts_missing)
        raise InputError(f"{excluding[0]} needs a method that fills in unknown pixels "
                         f"({missing}), not {args.method}")
    check_pair_flags(args, method)
    if getattr(args, "save_model", None):
        check_model_dir(args.save_model, inputs)
    return requested_outputs(args, method, inputs)


def check_model_dir(folder, inputs) -> None:
    """Refuse a ``--save-model`` folder that holds an input or anything but our model."""
    from .core.atomic import check_replaceable, refuse_inputs
    from .core.checkpoint import is_model_folder

    refuse_inputs(folder, inputs, "--save-model folder")
    check_replaceable(folder, is_model_folder, what="--save-model folder")


def output_sink(args, out_path, groups: dict[str, list], axes: str, spacing=None):
    """The sink writing the denoised image to ``out_path`` and each requested group's
    images into its ``--<group>-out`` folder (or to the file it names); ``.ome.zarr`` files
    keep the input's pixel size (``spacing``).

    Raises
    ------
    InputError
        Axes an output's format cannot hold (checked before any work).
    """
    from .io import PathSink
    from .io.images import check_output_axes

    paths, folders = {"denoised": Path(out_path)}, {}
    for g, outs in groups.items():
        target = getattr(args, f"{g}_out")
        if group_file(target, outs):
            if Path(target).resolve() in {p.resolve() for p in paths.values()}:
                raise InputError(f"--{g}-out {target} is already another output's path")
            paths[outs[0].name] = Path(target)
        else:
            folders.update({o.name: target for o in outs})
    for path in paths.values():
        check_output_axes(path, axes)
    return PathSink(paths, folders, overwrite=args.overwrite, spacing=spacing,
                    whole_below=whole_below(args))


def write_group_files(args, groups: dict[str, list], result, sink) -> dict:
    """Write the curve/table files of every requested group; JSON-summary keys."""
    from .io.outputs import write_output_files

    summary: dict = {}
    for group, outs in groups.items():
        folder = getattr(args, f"{group}_out")
        if not group_file(folder, outs):  # a group's one image: written by the sink
            write_output_files(folder, outs, result, sink, overwrite=args.overwrite)
        summary[f"{group}_out"] = str(folder)
        for out in outs:
            summary.update({key: result.tables[out.name][field] for key, field in out.report})
    return summary


def run_job(job, args, groups: dict[str, list], sink, **kwargs):
    """Drive a pipeline generator (``run_pipeline``/``apply_pipeline``) with progress."""
    from .core.events import PredictEvent, TrainEvent

    prog = Progress(args.quiet)
    outputs = [o for outs in groups.values() for o in outs]

    def on_event(ev):
        if isinstance(ev, TrainEvent):
            if ev.notice and not args.quiet:
                print(ev.notice, file=sys.stderr, flush=True)
            prog.train(ev)
        elif isinstance(ev, PredictEvent):
            prog.predict(ev)

    result = drain(job(sink=sink, tile=tile_config(args), outputs=outputs, **kwargs), on_event)
    blend = describe_blend(result.trained.config)
    if blend and not args.quiet:
        print(f"blind-denoise: the result is the network's output {blend}", file=sys.stderr,
              flush=True)
    for warning in result.warnings:
        print(f"blind-denoise: warning: {warning}", file=sys.stderr, flush=True)
    return result


def quality_summary(result) -> dict:
    """JSON-summary keys: what training chose from the data, the hand-back check."""
    adapted = dict(result.trained.info.get("adapted") or {})
    corr = adapted.get("noise_correlation")
    if corr:
        adapted["noise_correlation"] = {k: v for k, v in corr.items() if k != "acf"}
    return {"adapted": adapted, "removed_noise": result.removed_noise,
            "blend": result.trained.info.get("blend"),
            "yardstick": result.yardstick, "warnings": result.warnings}


EXCLUSION_FLAGS = ("exclude_mask", "exclude_above", "exclude_below", "exclude_impulses")


def exclusion_flags(args) -> list[str]:
    """The ``--exclude-*`` flags given (``--exclude-mask``...)."""
    given = [f for f in EXCLUSION_FLAGS if getattr(args, f, None) is not None]
    return ["--" + f.replace("_", "-") for f in given if getattr(args, f) is not False]


def with_exclusions(args, data, axes: str):
    """``data`` with the pixels the ``--exclude-*`` flags name marked unknown."""
    from .core.data.exclude import exclude_pixels
    from .io import read_image

    mask = None
    if getattr(args, "exclude_mask", None) is not None:
        mask, _ = read_image(args.exclude_mask)
    return exclude_pixels(data, mask, above=getattr(args, "exclude_above", None),
                          below=getattr(args, "exclude_below", None),
                          impulses=bool(getattr(args, "exclude_impulses", False)), axes=axes)


def exclusion_summary(args, data) -> dict:
    """JSON-summary keys for the pixels ``data`` (from :func:`with_exclusions`) excludes:
    ``excluded_pixels`` (known pixels marked unknown) and ``excluded_by`` (per flag; a pixel
    may be named by several); a line on stderr."""
    from .core.data.exclude import ExcludedPixels

    if not isinstance(data, ExcludedPixels):
        return {"excluded_pixels": 0}
    counts = data.counts()
    total = counts.pop("total")
    if not args.quiet:
        size = math.prod(data.shape)
        parts = ", ".join(f"{n} by --exclude-{rule.replace('_', '-')}"
                          for rule, n in counts.items())
        print(f"blind-denoise: excluding {total} pixels ({100 * total / size:.3g} %): {parts}",
              file=sys.stderr, flush=True)
    return {"excluded_pixels": total, "excluded_by": counts}


def load(path: str, axes: str | None, whole_below: int | None = None):
    """Read an image and check it; ``(array, axes)``. A TIFF larger than ``whole_below``
    bytes is read lazily (``io.images.read_image``)."""
    from .core.data.validate import check_image
    from .io import read_image

    data, file_axes = read_image(path, whole_below=whole_below)
    layout = check_image(data, axes or file_axes)
    return data, layout.axes


def emit(args, summary: dict) -> None:
    """Print the summary: one JSON line with ``--json``, else ``key: value`` lines (with
    ``dask``: the cluster and units of a prediction on dask workers)."""
    predictor = getattr(args, "predictor", None)
    if predictor is not None:
        summary = {**summary, "dask": predictor.summary}
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k}: {v}")
