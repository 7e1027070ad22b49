"""``blind-denoise``: train, predict, evaluate and demo from the command line.

Bad input ends with exit code 2 and one line on stderr, never a traceback. With ``--json``
the last line of stdout is a JSON summary. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

from ._cli_batch import cmd_denoise_batch, cmd_predict_batch, is_batch
from ._cli_common import (
    add_common,
    add_dask,
    add_device,
    add_inference,
    add_output_flags,
    add_pair_flags,
    add_train_flags,
    check_flags,
    dask_context,
    emit,
    exclusion_summary,
    load,
    make_config,
    memory_budget,
    memory_summary,
    memory_warnings,
    output_sink,
    pair_paths,
    quality_summary,
    requested_outputs,
    run_job,
    training_inputs,
    whole_below,
    with_exclusions,
    write_group_files,
)
from .core.errors import BlindDenoiseError, InputError
from .core.version import __version__

EXIT_BAD_INPUT = 2


def _train_and_apply(args, data, axes, groups=None, sink=None, attrs=None, spacing=None):
    """Train on ``data`` (its excluded pixels marked: :func:`with_exclusions`; voxel
    ``spacing``: axis letter -> ``(size, unit)``, from the input's metadata) and denoise it
    through the pipeline; its :class:`PipelineResult`."""
    from .core.data.validate import check_image
    from .core.memory import check_budget
    from .core.pipeline import run_pipeline
    from .core.separate import session_for

    config, device = make_config(args)
    check_budget(check_image(data, axes), data, divisor=config.model.divisor,
                 budget_mb=memory_budget(args))
    train_on, data = training_inputs(args, data, axes)
    session = session_for(train_on, axes, config, device=device,
                          spacing={a: s for a, (s, _) in (spacing or {}).items()})
    return run_job(partial(run_pipeline, session, yardstick=not args.no_yardstick,
                           inference=args.inference, data=data,
                           predictor=getattr(args, "predictor", None)), args,
                   groups or {}, sink, model_dir=args.save_model, attrs=attrs)


# -- commands -------------------------------------------------------------------------------

def cmd_denoise(args) -> int:
    """Train on INPUT, predict, write OUTPUT (several inputs: ``_cli_batch``)."""
    from .io.images import check_output_path, input_spacing

    if is_batch(args.input):
        return cmd_denoise_batch(args)
    args.input = args.input[0]
    t0 = time.perf_counter()
    groups = check_flags(args, [args.input, args.exclude_mask, *pair_paths(args)])
    out_path = check_output_path(args.output, [args.input, *pair_paths(args)])
    data, axes = load(args.input, args.axes, whole_below(args))
    spacing = input_spacing(args.input)
    sink = output_sink(args, out_path, groups, axes, spacing)
    memory_warnings(args, data, [out_path])
    data = with_exclusions(args, data, axes)
    excluded = exclusion_summary(args, data)
    result = _train_and_apply(args, data, axes, groups, sink, {"method": args.method}, spacing)
    extra = write_group_files(args, groups, result, sink)
    info = result.trained.info
    emit(args, {
        "method": result.trained.method, "input": str(args.input), "output": str(out_path),
        "axes": axes, "shape": list(data.shape), "steps": info["steps"],
        "best_step": info["best_step"], "train_seconds": info["train_seconds"],
        "predict_seconds": round(result.predict_seconds, 3),
        "total_seconds": round(time.perf_counter() - t0, 3),
        "device": info["device"], "model": args.save_model, **excluded, **extra,
        **memory_summary(args, result), **quality_summary(result),
    })
    return 0


def cmd_predict(args) -> int:
    """Apply a saved model to INPUT (several inputs: ``_cli_batch``)."""
    from .core import load_model
    from .core.data.validate import check_image
    from .core.device import pick_device
    from .core.pipeline import apply_pipeline
    from .io import read_image
    from .io.images import check_output_path, input_spacing

    if is_batch(args.input):
        return cmd_predict_batch(args)
    args.input = args.input[0]
    t0 = time.perf_counter()
    out_path = check_output_path(args.output, [args.input, args.model])
    device = pick_device(args.device)
    trained = load_model(args.model, device)
    if args.inference is not None:
        trained.spec.check_mode(trained.config, args.inference)
    groups = requested_outputs(args, trained.spec, [args.input, args.model])
    data, file_axes = read_image(args.input, whole_below=whole_below(args))
    axes = check_image(data, trained.axes_for(tuple(data.shape), args.axes or file_axes)).axes
    sink = output_sink(args, out_path, groups, axes, input_spacing(args.input))
    memory_warnings(args, data, [out_path])
    result = run_job(partial(apply_pipeline, trained, data, axes, device=device,
                             inference=args.inference,
                             predictor=getattr(args, "predictor", None)), args,
                     groups, sink,
                     attrs={"method": trained.method})
    extra = write_group_files(args, groups, result, sink)
    emit(args, {"method": trained.method, "input": str(args.input), "output": str(out_path),
                "model": str(args.model), "predict_seconds": round(result.predict_seconds, 3),
                "total_seconds": round(time.perf_counter() - t0, 3),
                "device": str(device), **extra, **memory_summary(args, result),
                **quality_summary(result)})
    return 0


def cmd_export(args) -> int:
    """Write MODEL as a BioImage.IO model package."""
    from .core import export_bioimageio, load_model
    from .core.bioimageio import test_package

    t0 = time.perf_counter()
    trained = load_model(args.model)
    sample, axes = None, args.axes
    if args.sample:
        from .io import read_image

        sample, file_axes = read_image(args.sample)
        axes = axes or file_axes
    done = export_bioimageio(trained, args.output, sample=sample, sample_axes=axes,
                             authors=tuple(args.author or ()), licence=args.licence,
                             overwrite=args.overwrite)
    summary = {"method": trained.method, "model": str(args.model), "output": str(done.path),
               "weights": list(done.weights), "note": done.note or None}
    if args.test:
        tested = test_package(done.path)
        summary["bioimageio_test"] = tested["status"]
        summary["bioimageio_failed"] = tested["failed"] or None
    summary["total_seconds"] = round(time.perf_counter() - t0, 3)
    emit(args, summary)
    return 0 if summary.get("bioimageio_test", "passed") == "passed" else 1


def cmd_eval(args) -> int:
    """Train on NOISY, score input and result against CLEAN."""
    from .core.metrics import score

    t0 = time.perf_counter()
    check_flags(args, [args.noisy, args.clean, *pair_paths(args)])
    if args.output:
        from .io.images import check_output_path

        check_output_path(args.output, [args.noisy, args.clean, *pair_paths(args)])
    data, axes = load(args.noisy, args.axes, whole_below(args))
    if args.output:
        from .io.images import check_output_axes

        check_output_axes(args.output, axes)
    clean, _ = load(args.clean, axes, whole_below(args))
    if tuple(clean.shape) != tuple(data.shape):
        raise InputError(f"clean image shape {tuple(clean.shape)} differs from noisy "
                         f"{tuple(data.shape)}")
    excluding = with_exclusions(args, data, axes)
    excluded = exclusion_summary(args, excluding)
    run = _train_and_apply(args, excluding, axes)
    trained, result = run.trained, run.images["denoised"]
    if args.output:
        from .io import write_image
        from .io.images import input_spacing

        write_image(args.output, result, axes, spacing=input_spacing(args.noisy))
    clean = np.asarray(clean, np.float32)
    before, after = score(np.asarray(data, np.float32), clean), score(result, clean)
    summary = {"method": trained.method, "noisy": str(args.noisy), "clean": str(args.clean),
               "steps": trained.info["steps"], "train_seconds": trained.info["train_seconds"],
               "total_seconds": round(time.perf_counter() - t0, 3),
               "device": trained.info["device"], **excluded,
               **{f"input_{k}": round(v, 4) for k, v in before.items()},
               **{f"result_{k}": round(v, 4) for k, v in after.items()},
               "output": args.output, **quality_summary(run)}
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
    from .io.images import written_by_us
    from .sample_data import load_sample

    t0 = time.perf_counter()
    check_flags(args)
    _check_demo_folder(Path(args.out), args.overwrite)
    noisy, clean = load_sample()
    out_dir = Path(args.out)
    args.axes = "YX"
    excluding = with_exclusions(args, noisy, "YX")
    excluded = exclusion_summary(args, excluding)
    run = _train_and_apply(args, excluding, "YX")
    trained, result = run.trained, run.images["denoised"]
    denoised = write_image(out_dir / "denoised.tif", result, "YX", owned=written_by_us,
                           overwrite=args.overwrite)
    png = _side_by_side(out_dir / "comparison.png", noisy, result, clean, args.overwrite)
    p_in, p_out = psnr(noisy, clean), psnr(result, clean)
    emit(args, {"method": trained.method, "steps": trained.info["steps"],
                "train_seconds": trained.info["train_seconds"],
                "total_seconds": round(time.perf_counter() - t0, 3),
                "device": trained.info["device"], "psnr_noisy": round(p_in, 2),
                "psnr_denoised": round(p_out, 2),
                "output": str(denoised), "comparison": str(png), "tta": run.tta,
                **excluded, **quality_summary(run)})
    if args.gui:
        _show_in_napari(noisy, clean, result, trained.method)
    return 0


def _demo_owned(path: Path) -> bool:
    """A demo folder's file is ours when the folder's ``denoised.tif`` is (we write both)."""
    from .io.images import written_by_us

    return written_by_us(path) or written_by_us(path.parent / "denoised.tif")


def _check_demo_folder(folder: Path, overwrite: bool) -> None:
    """Refuse, before any work, to replace foreign files named like the demo's outputs."""
    from .core.atomic import check_replaceable

    for name in ("denoised.tif", "comparison.png"):
        check_replaceable(folder / name, _demo_owned, what="demo output",
                          overwrite=overwrite)


def _side_by_side(path: Path, noisy, result, clean, overwrite: bool = False) -> Path:
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
    replace_path(tmp, path, _demo_owned, overwrite=overwrite)
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

def _add_export(sub) -> None:
    """The ``export`` command's flags."""
    x = sub.add_parser("export", help="write a saved model as a BioImage.IO model package "
                       "(needs the [bioimageio] extra)")
    x.add_argument("model", metavar="MODEL", help="a model folder")
    x.add_argument("-o", "--output", required=True, help="the package, a .zip file")
    x.add_argument("--sample", metavar="IMAGE",
                   help="an image like the training data: its centre becomes the package's "
                   "test input and cover (default: seeded noise in the training range)")
    x.add_argument("--axes", help="axes of --sample (default: the model's, or detected)")
    x.add_argument("--author", action="append", metavar="NAME",
                   help="an author of the package (repeat for several)")
    x.add_argument("--licence", "--license", default="CC-BY-4.0", metavar="SPDX",
                   help="licence of the exported weights (default: CC-BY-4.0)")
    x.add_argument("--test", action="store_true",
                   help="run bioimageio.core's test of the package on the CPU; exit 1 if it "
                   "fails")
    x.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    x.add_argument("--overwrite", action="store_true",
                   help="replace an existing file napari-blind-denoise did not write")
    x.set_defaults(func=cmd_export)


def build_parser() -> argparse.ArgumentParser:
    """The ``blind-denoise`` argument parser."""
    p = argparse.ArgumentParser(prog="blind-denoise", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("denoise", help="train on an image and write the denoised image")
    d.add_argument("input", nargs="+", help="an image; or several, a folder or a glob "
                   "pattern: one model trained on all of them, each denoised into -o")
    d.add_argument("-o", "--output", required=True, help="output .tif/.tiff, .zarr or .ome.zarr "
                   "(an OME-Zarr image with a pyramid, the input's pixel size kept; several "
                   "inputs: a folder, with the model in OUTPUT/model unless --save-model)")
    add_train_flags(d)
    add_pair_flags(d)
    add_output_flags(d)
    add_dask(d)
    d.set_defaults(func=cmd_denoise)

    r = sub.add_parser("predict", help="apply a saved model")
    r.add_argument("input", nargs="+", help="an image; or several, a folder or a glob pattern "
                   "(each denoised into the -o folder)")
    r.add_argument("--model", required=True, metavar="DIR|ZIP",
                   help="a model folder, or a BioImage.IO model package (.zip or a folder with "
                   "rdf.yaml; needs the [bioimageio] extra)")
    r.add_argument("-o", "--output", required=True, help="output .tif/.tiff, .zarr or .ome.zarr "
                   "(several inputs: a folder)")
    r.add_argument("--axes")
    add_device(r)
    add_inference(r)
    add_common(r)
    add_output_flags(r)
    add_dask(r)
    r.set_defaults(func=cmd_predict)

    _add_export(sub)

    e = sub.add_parser("eval", help="train on a noisy image and score it against a clean one")
    e.add_argument("--noisy", required=True)
    e.add_argument("--clean", required=True)
    e.add_argument("-o", "--output", help="also write the denoised image")
    add_train_flags(e)
    add_pair_flags(e)
    e.set_defaults(func=cmd_eval)

    m = sub.add_parser("demo", help="denoise the embedded sample (trains for 40 s)")
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
        with dask_context(args):
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
