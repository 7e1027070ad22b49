"""Many files: ``blind-denoise denoise a.tif b.tif … -o OUTDIR`` trains one model on all of
them (patches sampled across files, ``core.data.collection``) and denoises each into
``OUTDIR``; ``blind-denoise predict --model M a.tif … -o OUTDIR`` only denoises.

Inputs may be files, folders (their image files, not recursive) or glob patterns. Each
output is ``OUTDIR/<input stem>.tif`` (``.zarr`` for a zarr input, so ``.ome.zarr`` for an
OME-Zarr one). Nothing is written onto
an input; an existing output is replaced only if this program wrote it (or ``--overwrite``
for a file); every check runs before any training.
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path

from ._cli_common import (
    Progress,
    check_model_dir,
    drain,
    emit,
    memory_budget,
    tile_config,
    whole_below,
)
from .core.errors import InputError

IMAGE_SUFFIXES = (".tif", ".tiff", ".zarr", ".npy", ".png", ".jpg", ".jpeg", ".bmp")
DEFAULT_MODEL = "model"  # the saved model's folder in OUTDIR without --save-model


def _has_magic(item: str) -> bool:
    return any(ch in item for ch in "*?[")


def _is_folder(item: str) -> bool:
    return Path(item).is_dir() and Path(item).suffix.lower() != ".zarr"


def is_batch(items: list[str]) -> bool:
    """Several inputs, a folder or a pattern (one plain file keeps the one-file command)."""
    return len(items) > 1 or _is_folder(items[0]) or (
        _has_magic(items[0]) and not Path(items[0]).exists())


def expand_inputs(items: list[str]) -> list[Path]:
    """The image files ``items`` name: files as given, folders' image files, patterns'
    matches (sorted); each once.

    Raises
    ------
    InputError
        A pattern or folder that matches no image, or nothing to denoise.
    """
    found: list[Path] = []
    for item in items:
        if _is_folder(item):
            hits = sorted(p for p in Path(item).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif _has_magic(item) and not Path(item).exists():
            hits = sorted(Path(p) for p in glob.glob(item)
                          if Path(p).suffix.lower() in IMAGE_SUFFIXES)
        else:
            hits = [Path(item)]
        if not hits:
            raise InputError(f"{item} names no image file ({', '.join(IMAGE_SUFFIXES)})")
        found += [h for h in hits if h.resolve() not in {f.resolve() for f in found}]
    return found


def output_paths(inputs: list[Path], outdir: str, overwrite: bool) -> list[Path]:
    """``OUTDIR/<stem>.tif`` (``.zarr`` for zarr inputs) per input, checked before any work.

    Raises
    ------
    InputError
        ``OUTDIR`` is a file or has an image suffix, two inputs share a stem, an output
        would be an input, or an output exists that this program did not write.
    """
    from .core.atomic import check_replaceable, refuse_inputs
    from .io.images import OUTPUT_SUFFIXES, is_zarr_path, written_by_us

    folder = Path(outdir)
    if folder.suffix.lower() in OUTPUT_SUFFIXES or (folder.exists() and not folder.is_dir()):
        raise InputError(f"with several inputs -o names a folder for the outputs, not "
                         f"{outdir}")
    outs = [folder / (p.stem + (".zarr" if is_zarr_path(p) else ".tif")) for p in inputs]
    names = [o.name for o in outs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"several inputs would be written to the same output "
                         f"{', '.join(twice)} in {outdir}; rename them or run them apart")
    for out in outs:
        if any(out.resolve() == i.resolve() for i in inputs):
            raise InputError(f"the output {out} would replace an input; choose another -o "
                             "folder (nothing was changed)")
        refuse_inputs(out, inputs)
        check_replaceable(out, written_by_us, overwrite=overwrite)
    return outs


def refuse_single_file_flags(args) -> None:
    """Options that name one image's companion files are for one input at a time."""
    from ._cli_common import exclusion_flags, pair_paths
    from .core.methods import output_groups

    flags = [f"--{g}-out" for g in output_groups() if getattr(args, f"{g}_out", None)]
    flags += ["--pair"] * bool(pair_paths(args))
    flags += ["--pairs-from"] * (getattr(args, "pairs_from", None) is not None)
    flags += exclusion_flags(args)
    if flags:
        raise InputError(f"{flags[0]} applies to one input; run the files one at a time")
    if getattr(args, "dims", None) == "3":
        raise InputError("--dims 3 applies to one input: several files train one 2-D model "
                         "on the planes of all of them; run the volumes one at a time for "
                         "3-D networks")


def check_budgets(args, loaded: list[tuple], paths: list[Path], divisor: int) -> None:
    """Refuse, before any training or output, a memory budget too small for any input."""
    from .core.data.validate import check_image
    from .core.memory import check_budget

    for (data, axes), path in zip(loaded, paths, strict=True):
        try:
            check_budget(check_image(data, axes), data, divisor=divisor,
                         budget_mb=memory_budget(args))
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None


def _load_all(paths: list[Path], axes: str | None, model=None,
              whole_below: int | None = None) -> list[tuple]:
    """``(data, axes)`` of every input (lazy where the format allows, and for a TIFF larger
    than ``whole_below`` bytes)."""
    from .core.data.validate import check_image
    from .io import read_image

    loaded = []
    for p in paths:
        data, file_axes = read_image(p, whole_below=whole_below)
        given = axes or file_axes
        if model is not None:
            given = model.axes_for(tuple(data.shape), given)
        loaded.append((data, check_image(data, given).axes))
    return loaded


def check_output_axes(loaded: list[tuple], outputs: list[Path]) -> None:
    """Refuse, before any work, an input whose axes its output's format cannot hold."""
    from .io.images import check_output_axes as check

    for (_, axes), out in zip(loaded, outputs, strict=True):
        check(out, axes)


def _train(args, loaded, paths: list[Path], progress):
    """One model trained on every input (one progress display), once every input's memory
    budget is checked."""
    from ._cli_common import make_config
    from .core.data.collection import CropStack
    from .core.data.validate import check_image
    from .core.separate import session_for

    config, device = make_config(args)
    check_budgets(args, loaded, paths, config.model.divisor)
    stack = CropStack([d for d, _ in loaded], [check_image(d, a) for d, a in loaded])
    session = session_for(stack, stack.axes, config, device=device)

    def on_event(ev):
        if ev.notice and not args.quiet:
            print(ev.notice, file=sys.stderr, flush=True)
        progress.train(ev)

    trained = drain(session.run(), on_event)
    axes = {a for _, a in loaded}
    if len(axes) == 1:  # the files' own axes, not the stack's
        trained.axes = axes.pop()
    return trained, device


def _denoise_each(args, trained, loaded, inputs, outputs, device, progress) -> list[dict]:
    """Denoise every input into its output; one summary line per file (stdout)."""
    from .core.events import PredictEvent
    from .core.pipeline import apply_pipeline
    from .io import PathSink
    from .io.images import input_spacing

    rows = []
    for k, ((data, axes), src, out) in enumerate(zip(loaded, inputs, outputs, strict=True), 1):
        progress.label = f" {k}/{len(inputs)} {src.name}"
        sink = PathSink({"denoised": out}, overwrite=args.overwrite, chosen=True,
                        spacing=input_spacing(src), whole_below=whole_below(args))
        result = drain(apply_pipeline(trained, data, axes, sink=sink, tile=tile_config(args),
                                      device=device, inference=args.inference,
                                      attrs={"method": trained.method, "source": str(src)},
                                      predictor=getattr(args, "predictor", None)),
                       lambda ev: progress.predict(ev) if isinstance(ev, PredictEvent) else None)
        for warning in result.warnings:
            print(f"blind-denoise: warning: {src}: {warning}", file=sys.stderr, flush=True)
        row = {"input": str(src), "output": str(result.images["denoised"]), "axes": axes,
               "shape": list(data.shape), "predict_seconds": round(result.predict_seconds, 3),
               "removed_noise": result.removed_noise, "tta": result.tta,
               "warnings": result.warnings}
        rows.append(row)
        if not args.json:
            removed = (f", removed {row['removed_noise']:.0%} of the noise"
                       if row["removed_noise"] is not None else "")
            print(f"{src} -> {row['output']} ({axes} {'x'.join(map(str, data.shape))}"
                  f"{removed}, {row['predict_seconds']:.1f} s)", flush=True)
    return rows


def _files(args, rows: list[dict]) -> dict:
    """The per-file rows for the JSON summary (printed as lines already without ``--json``)."""
    return {"files": rows} if args.json else {"files": len(rows)}


def _adapted(info: dict) -> dict:
    """What training chose from the data, without the full correlation table."""
    adapted = dict(info.get("adapted") or {})
    if adapted.get("noise_correlation"):
        adapted["noise_correlation"] = {k: v for k, v in adapted["noise_correlation"].items()
                                        if k != "acf"}
    return adapted


def cmd_denoise_batch(args) -> int:
    """Train one model on every input and denoise each into the ``-o`` folder."""
    from ._cli_common import check_flags
    from .core import get_method, save_model

    t0 = time.perf_counter()
    inputs = expand_inputs(args.input)
    refuse_single_file_flags(args)
    if get_method(args.method).inputs > 1:
        raise InputError(f"method {args.method} trains on pairs of acquisitions; several "
                         "inputs train one model on single images: denoise each pair on its "
                         "own (--pair or --pairs-from)")
    check_flags(args, inputs)
    outputs = output_paths(inputs, args.output, args.overwrite)
    model_dir = Path(args.save_model or Path(args.output) / DEFAULT_MODEL)
    check_model_dir(model_dir, inputs)
    loaded = _load_all(inputs, args.axes, whole_below=whole_below(args))
    check_output_axes(loaded, outputs)
    progress = Progress(args.quiet)
    trained, device = _train(args, loaded, inputs, progress)
    saved = save_model(trained, model_dir)
    rows = _denoise_each(args, trained, loaded, inputs, outputs, device, progress)
    info = trained.info
    emit(args, {"method": trained.method, **_files(args, rows), "model": str(saved),
                "steps": info["steps"], "best_step": info["best_step"],
                "train_seconds": info["train_seconds"],
                "total_seconds": round(time.perf_counter() - t0, 3),
                "device": info["device"], "adapted": _adapted(info),
                "memory_budget_mb": memory_budget(args)})
    return 0


def cmd_predict_batch(args) -> int:
    """Apply a saved model to every input, into the ``-o`` folder."""
    from .core import load_model
    from .core.device import pick_device

    t0 = time.perf_counter()
    inputs = expand_inputs(args.input)
    refuse_single_file_flags(args)
    outputs = output_paths(inputs, args.output, args.overwrite)
    for out in outputs:
        if Path(args.model).resolve() in (out.resolve(), *out.resolve().parents):
            raise InputError(f"the output {out} would be written into the model {args.model}")
    device = pick_device(args.device)
    trained = load_model(args.model, device)
    if args.inference is not None:
        trained.spec.check_mode(trained.config, args.inference)
    loaded = _load_all(inputs, args.axes, trained, whole_below(args))
    check_output_axes(loaded, outputs)
    check_budgets(args, loaded, inputs, trained.config.model.divisor)
    rows = _denoise_each(args, trained, loaded, inputs, outputs, device, Progress(args.quiet))
    emit(args, {"method": trained.method, **_files(args, rows), "model": str(args.model),
                "total_seconds": round(time.perf_counter() - t0, 3), "device": str(device),
                "memory_budget_mb": memory_budget(args)})
    return 0
