"""BioImage.IO model packages (the model zoo's format, spec 0.5): export and import.

Needs the optional extra ``napari-blind-denoise[bioimageio]`` (``bioimageio.spec`` builds and
reads the description, ``bioimageio.core`` tests it); everything else works without it.

Export: the method hands over one network (``Method.export_network``; a method whose
prediction is not one plain network pass is refused). The package holds it twice, as
``pytorch_state_dict`` weights (rebuilt by ``napari_blind_denoise.core.nets.unet.build_unet``)
and as TorchScript (runs with torch alone), between a pre-processing that is our
normalisation, ``(x - low) / (high - low)`` per channel written as ``scale_linear``, and a
post-processing that inverts it (and clips to the range of the training data's integer
type). Test input/output, a cover, a README and the citations come with it.

Import: any package with one 2-D image in and one out (axes ``b? c? y x``), TorchScript or
our own ``pytorch_state_dict`` weights, and per-pixel affine pre/post-processing
(``scale_linear``, ``fixed_zero_mean_unit_variance``, ``clip``, ``ensure_dtype``) becomes a
:class:`~napari_blind_denoise.core.trained.TrainedModel` of the hidden method ``bioimageio``
that our tiled predictor runs. Processing computed from each image's statistics (percentile
``scale_range``, ``zero_mean_unit_variance``) is refused: per tile it would differ from
tile to tile.
"""

from __future__ import annotations

import copy
import io
import json
import math
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .atomic import check_replaceable, remove_path, replace_path, tmp_sibling
from .config import DenoiseConfig, ModelConfig
from .data.normalize import NormStats
from .data.validate import check_image
from .errors import CheckpointError, InputError
from .trained import ChannelModels, TrainedModel
from .version import __version__

EXTRA_HINT = 'install the optional extra: pip install "napari-blind-denoise[bioimageio]"'
CONFIG_KEY = "napari_blind_denoise"  # our section of the package's ``config``
RDF_NAMES = ("rdf.yaml", "bioimageio.yaml")
TEST_SIZE = 256  # largest Y/X of the test input
INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True)
class PackageExport:
    """A written package: its path, the weight formats in it and what it leaves out."""

    path: Path
    weights: tuple[str, ...]
    note: str = ""


def bioimageio_available() -> bool:
    """True when the ``[bioimageio]`` extra is installed."""
    try:
        import bioimageio.spec  # noqa: F401
    except ImportError:
        return False
    return True


def _require() -> None:
    if not bioimageio_available():
        raise InputError(f"BioImage.IO packages need bioimageio.spec: {EXTRA_HINT}")


def is_bioimageio_package(path: str | Path) -> bool:
    """True for a BioImage.IO package: a ``.zip`` with an ``rdf.yaml`` (or
    ``bioimageio.yaml``), a folder holding one, or the YAML file itself."""
    path = Path(path)
    if path.is_dir():
        return any((path / n).is_file() for n in RDF_NAMES) or any(
            path.glob("*.bioimageio.yaml"))
    if not path.is_file():
        return False
    if path.name in RDF_NAMES or path.name.endswith(".bioimageio.yaml"):
        return True
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n in RDF_NAMES or n.endswith(".bioimageio.yaml") for n in zf.namelist())


def _ours(path: Path) -> bool:
    """A package this program wrote (its ``config`` has our section)."""
    if not (path.is_file() and zipfile.is_zipfile(path)):
        return False
    with zipfile.ZipFile(path) as zf:
        names = [n for n in zf.namelist() if n in RDF_NAMES]
        return bool(names) and f"{CONFIG_KEY}:" in zf.read(names[0]).decode("utf-8", "ignore")


# -- export ---------------------------------------------------------------------------------

def export_bioimageio(trained: TrainedModel, path: str | Path, *, sample=None,
                      sample_axes: str | None = None, authors: tuple[str, ...] = (),
                      licence: str = "CC-BY-4.0", overwrite: bool = False) -> PackageExport:
    """Write ``trained`` as a BioImage.IO model package (a ``.zip``).

    Parameters
    ----------
    sample, sample_axes
        An image like the training data: its central window becomes the test input and
        the cover. Without one, a seeded random image in the training data's range is used.
    authors
        Names for the package's authors (default: ``napari-blind-denoise user``).
    licence
        SPDX licence id of the exported weights.
    overwrite
        Replace an existing file at ``path`` that this program did not write.

    Raises
    ------
    NotExportable
        The method's prediction is not one plain network pass (e.g. ``s2s``, ``bsn``), or
        the models are one per channel (``channels="separate"``).
    InputError
        The ``[bioimageio]`` extra is missing, or the path or sample is unusable.
    """
    if isinstance(trained, ChannelModels):
        from .methods.base import NotExportable

        raise NotExportable("one model per channel (channels 'separate') is several "
                            "networks, and a BioImage.IO package holds one: train with "
                            "channels 'joint' (--channels joint) to export")
    exported = trained.spec.export_network(trained)
    _require()
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise InputError(f"a BioImage.IO package is a .zip file; got {path}")
    check_replaceable(path, _ours, what="model package", overwrite=overwrite)
    module = copy.deepcopy(exported.module).to("cpu").float().eval()
    raw = _test_input(trained, sample, sample_axes, exported.divisor)
    gain, offset = _affine(trained.norm)
    with torch.no_grad():
        out_n = module(torch.from_numpy(raw * gain[:, None, None] + offset[:, None, None]))
    expected = _denormalise(out_n.numpy(), trained.norm)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bioimageio-export-") as work:
        files = _write_files(Path(work), module, raw, expected, trained, exported.note)
        descr = _describe(trained, exported, files, raw.shape[1], list(authors), licence)
        tmp = tmp_sibling(path)
        try:
            _save_package(descr, tmp)
            replace_path(tmp, path, _ours, overwrite=overwrite)
        finally:
            remove_path(tmp)
    return PackageExport(path, ("pytorch_state_dict", "torchscript"), exported.note)


def _affine(norm: NormStats) -> tuple[np.ndarray, np.ndarray]:
    """``gain, offset`` with ``x * gain + offset == norm.normalize(x)``, float32 per channel."""
    low = np.asarray(norm.low, np.float64)
    span = np.asarray(norm.high, np.float64) - low
    return (1.0 / span).astype(np.float32), (-low / span).astype(np.float32)


def _clip_range(norm: NormStats) -> tuple[float, float] | None:
    dt = np.dtype(norm.dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        return float(info.min), float(info.max)
    return None


def _denormalise(block: np.ndarray, norm: NormStats) -> np.ndarray:
    """``(B, C, Y, X)`` as the package's post-processing computes it."""
    low = np.asarray(norm.low, np.float32)[:, None, None]
    span = (np.asarray(norm.high, np.float64) - np.asarray(norm.low, np.float64))
    out = block * span.astype(np.float32)[:, None, None] + low
    bounds = _clip_range(norm)
    if bounds is not None:
        out = np.clip(out, *bounds)
    return out.astype(np.float32)


def _test_input(trained: TrainedModel, sample, axes: str | None, divisor: int) -> np.ndarray:
    """``(1, C, S, S)`` float32 raw values: the sample's central window, or seeded noise."""
    channels = trained.channels
    if sample is not None:
        layout = check_image(sample, trained.axes_for(tuple(sample.shape), axes))
        if layout.channels != channels:
            raise InputError(f"the sample has {layout.channels} channel(s); the model "
                             f"{channels}")
        size = min(TEST_SIZE, layout.height, layout.width) // divisor * divisor
        if size >= divisor:
            y0, x0 = (layout.height - size) // 2, (layout.width - size) // 2
            plane = next(iter(layout.planes()))
            block = layout.read(sample, plane, slice(y0, y0 + size), slice(x0, x0 + size))
            return block[None].astype(np.float32)
    size = max(divisor, 128 // divisor * divisor)
    rng = np.random.default_rng(0)
    low, high = np.asarray(trained.norm.low), np.asarray(trained.norm.high)
    noise = rng.uniform(size=(1, channels, size, size))
    return (low[:, None, None] + noise * (high - low)[:, None, None]).astype(np.float32)


def _cover(raw: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Input | output of channel 0 side by side (2:1), uint8, one display range."""
    a, b = raw[0, 0], expected[0, 0]
    lo, hi = np.percentile(b, [0.5, 99.5])
    hi = hi if hi > lo else lo + 1.0
    row = np.concatenate([a, b], axis=1)
    return (np.clip((row - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def _write_files(work: Path, module: nn.Module, raw: np.ndarray, expected: np.ndarray,
                 trained: TrainedModel, note: str) -> dict[str, Path]:
    import imageio.v3 as iio

    files = {"input": work / "test_input.npy", "output": work / "test_output.npy",
             "state_dict": work / "weights.pt", "torchscript": work / "weights_torchscript.pt",
             "cover": work / "cover.png", "readme": work / "README.md"}
    np.save(files["input"], raw)
    np.save(files["output"], expected)
    torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()},
               files["state_dict"])
    with torch.no_grad(), warnings.catch_warnings():
        # the example's Y/X are multiples of the network's divisor, as the package's axes
        # require of every input: the padding branch the tracer warns about is never taken
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # TorchScript is what BioImage.IO's torchscript weights are, deprecated or not
        warnings.simplefilter("ignore", DeprecationWarning)
        traced = torch.jit.trace(module, torch.from_numpy(raw), check_trace=False)
    traced.save(str(files["torchscript"]))
    iio.imwrite(files["cover"], _cover(raw, expected), extension=".png")
    files["readme"].write_text(_readme(trained, note), encoding="utf-8")
    return files


def _readme(trained: TrainedModel, note: str) -> str:
    spec, info = trained.spec, trained.info or {}
    text, ref = spec.citation
    lines = [
        f"# {spec.name} ({spec.id}) denoiser",
        "",
        f"A self-supervised denoiser trained with napari-blind-denoise {__version__} "
        f"({spec.description}) on an image with axes {trained.axes}, "
        f"{trained.channels} channel(s), for {info.get('steps', '?')} steps. "
        "It was trained on noisy data only, for that data: apply it to images of the same "
        "kind (microscope, settings, noise); on others it may invent or remove structure.",
        "",
        f"Method: {text} {ref}".rstrip(),
        "",
        "Input: one 2-D image (axes b, c, y, x; Y and X multiples of "
        f"{trained.config.model.divisor}), raw intensities. The pre-processing is the "
        "training normalisation `(x - low) / (high - low)` per channel; the post-processing "
        "inverts it.",
    ]
    if note:
        lines += ["", f"Note: {note}."]
    lines += ["", "## Validation", "",
              "There is no ground truth in self-supervised training. Check results on data "
              "with a known clean image (napari-blind-denoise's *Compare to ground truth*) "
              "and against a classical filter before relying on them. The package's test "
              "input/output pair checks only that the network reproduces its output.", ""]
    return "\n".join(lines)


def _cite_entries(trained: TrainedModel) -> list:
    from bioimageio.spec.model.v0_5 import CiteEntry, Doi, HttpUrl

    entries = []
    text, ref = trained.spec.citation
    if text and ref:
        entries.append(CiteEntry(text=text, url=HttpUrl(ref)) if ref.startswith("http")
                       else CiteEntry(text=text, doi=Doi(ref)))
    url = _package_url()
    if url:
        entries.append(CiteEntry(text=f"napari-blind-denoise {__version__}", url=HttpUrl(url)))
    return entries


def _package_url() -> str | None:
    """The project URL in this package's metadata (``[project.urls]``), if any."""
    try:
        meta = metadata.metadata("napari-blind-denoise")
    except metadata.PackageNotFoundError:
        return None
    for entry in meta.get_all("Project-URL") or []:
        url = entry.split(",", 1)[-1].strip()
        if url.startswith("http"):
            return url
    home = meta.get("Home-page")
    return home if home and home.startswith("http") else None


def _tensors(trained: TrainedModel, divisor: int, files: dict[str, Path], channels: int):
    from bioimageio.spec.model import v0_5 as bio

    names = [bio.Identifier(f"channel{c}") for c in range(channels)]
    ax_c = bio.ChannelAxis(channel_names=names)
    size = bio.ParameterizedSize(min=divisor, step=divisor)
    gain, offset = _affine(trained.norm)
    pre = [bio.EnsureDtypeDescr(kwargs=bio.EnsureDtypeKwargs(dtype="float32")),
           _scale_linear(gain, offset)]
    span = np.asarray(trained.norm.high, np.float64) - np.asarray(trained.norm.low, np.float64)
    post = [_scale_linear(span, np.asarray(trained.norm.low, np.float64))]
    bounds = _clip_range(trained.norm)
    if bounds is not None:
        post.append(bio.ClipDescr(kwargs=bio.ClipKwargs(min=bounds[0], max=bounds[1])))
    post.append(bio.EnsureDtypeDescr(kwargs=bio.EnsureDtypeKwargs(dtype="float32")))
    ipt = bio.InputTensorDescr(
        id=bio.TensorId(INPUT), description="noisy image, raw intensities",
        axes=[bio.BatchAxis(), ax_c, bio.SpaceInputAxis(id=bio.AxisId("y"), size=size),
              bio.SpaceInputAxis(id=bio.AxisId("x"), size=size)],
        test_tensor=bio.FileDescr(source=files["input"]),
        data=bio.IntervalOrRatioDataDescr(type="float32"), preprocessing=pre)
    ref = {"tensor_id": bio.TensorId(INPUT)}
    out = bio.OutputTensorDescr(
        id=bio.TensorId(OUTPUT), description="denoised image, input intensity units",
        axes=[bio.BatchAxis(), ax_c,
              bio.SpaceOutputAxis(id=bio.AxisId("y"),
                                  size=bio.SizeReference(axis_id=bio.AxisId("y"), **ref)),
              bio.SpaceOutputAxis(id=bio.AxisId("x"),
                                  size=bio.SizeReference(axis_id=bio.AxisId("x"), **ref))],
        test_tensor=bio.FileDescr(source=files["output"]),
        data=bio.IntervalOrRatioDataDescr(type="float32"), postprocessing=post)
    return ipt, out


def _scale_linear(gain, offset):
    from bioimageio.spec.model import v0_5 as bio

    gain, offset = [float(g) for g in gain], [float(o) for o in offset]
    if len(gain) == 1:
        return bio.ScaleLinearDescr(kwargs=bio.ScaleLinearKwargs(gain=gain[0], offset=offset[0]))
    return bio.ScaleLinearDescr(kwargs=bio.ScaleLinearAlongAxisKwargs(
        axis=bio.AxisId("channel"), gain=gain, offset=offset))


def _weights(exported, files: dict[str, Path]):
    from bioimageio.spec.model import v0_5 as bio

    version = bio.Version(torch.__version__.split("+")[0])
    module, func = exported.factory.split(":")
    arch = bio.ArchitectureFromLibraryDescr(callable=bio.Identifier(func), import_from=module,
                                            kwargs=dict(exported.kwargs))
    return bio.WeightsDescr(
        pytorch_state_dict=bio.PytorchStateDictWeightsDescr(
            source=files["state_dict"], architecture=arch, pytorch_version=version),
        torchscript=bio.TorchscriptWeightsDescr(
            source=files["torchscript"], pytorch_version=version, parent="pytorch_state_dict"))


def _our_config(trained: TrainedModel) -> dict[str, Any]:
    """What this program needs to describe the model again (JSON-ready)."""
    info = json.loads(json.dumps(trained.info or {}, default=str))
    return {"version": __version__, "method": trained.method, "axes": trained.axes,
            "config": trained.config.to_dict(), "normalization": trained.norm.to_dict(),
            "info": info}


def _describe(trained: TrainedModel, exported, files: dict[str, Path], channels: int,
              authors: list[str], licence: str):
    from bioimageio.spec.model import v0_5 as bio

    spec = trained.spec
    ipt, out = _tensors(trained, exported.divisor, files, channels)
    return bio.ModelDescr(
        name=f"napari-blind-denoise {spec.id} denoiser",
        description=f"Self-supervised {spec.name} denoiser trained with napari-blind-denoise "
                    f"on {trained.axes} data ({spec.id}).",
        authors=[bio.Author(name=a) for a in (authors or ["napari-blind-denoise user"])],
        cite=_cite_entries(trained),
        license=bio.LicenseId(licence),
        documentation=bio.FileDescr(source=files["readme"]),
        covers=[bio.FileDescr(source=files["cover"])],
        tags=["denoising", "self-supervised", spec.id, "2d", "pytorch",
              "napari-blind-denoise"],
        inputs=[ipt], outputs=[out],
        weights=_weights(exported, files),
        config=bio.Config(**{CONFIG_KEY: _our_config(trained)}),
    )


def _save_package(descr, path: Path) -> None:
    from bioimageio.spec import save_bioimageio_package

    save_bioimageio_package(descr, output_path=path)


def test_package(path: str | Path, weight_format: str | None = None) -> dict[str, Any]:
    """bioimageio.core's own test of a package on the CPU: ``{"status", "details"}``
    (``status`` is ``"passed"`` when every check passed)."""
    try:
        from bioimageio.core import test_model
    except ImportError:
        raise InputError(f"testing a package needs bioimageio.core: {EXTRA_HINT}") from None
    summary = test_model(str(path), weight_format=weight_format, devices=["cpu"])
    failed = [f"{d.name}: {'; '.join(e.msg for e in d.errors)}" for d in summary.details
              if d.status == "failed"]
    return {"status": summary.status, "failed": failed}


# -- import ---------------------------------------------------------------------------------

class PackageNetwork(nn.Module):
    """A package's network as our predictor calls it: normalised ``(B, C, Y, X)`` tiles in
    (our ``NormStats`` = the package's input affine), normalised tiles out.

    Tiles are mirror-padded to sizes the network takes and cropped back; the package's
    output affine and clip are applied, then our normalisation again, so that our
    de-normalisation yields exactly the package's output.
    """

    def __init__(self, net: nn.Module, minimum: int, step: int, out_gain, out_offset,
                 clip: tuple[float, float] | None, norm: NormStats) -> None:
        super().__init__()
        self.net, self.minimum, self.step, self.clip = net, minimum, step, clip
        for name, value in (("out_gain", out_gain), ("out_offset", out_offset),
                            ("low", norm.low),
                            ("span", np.subtract(norm.high, norm.low))):
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32)[:, None, None],
                                 persistent=False)

    def _size(self, n: int) -> int:
        size = max(n, self.minimum)
        return self.minimum + math.ceil((size - self.minimum) / self.step) * self.step

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised ``(B, C, Y, X)`` -> normalised denoised tile of the same shape."""
        h, w = x.shape[-2:]
        ph, pw = self._size(h) - h, self._size(w) - w
        mode = "reflect" if ph < h and pw < w else "replicate"
        inp = nn.functional.pad(x, (0, pw, 0, ph), mode=mode) if (ph or pw) else x
        y = self.net(inp.float())[..., :h, :w].float()
        y = y * self.out_gain + self.out_offset
        if self.clip is not None:
            y = y.clamp(*self.clip)
        return (y - self.low) / self.span


def load_bioimageio(path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Read a BioImage.IO model package as a model our predictor runs.

    Raises
    ------
    CheckpointError
        Not a valid package, or one this program cannot run (the message says why).
    InputError
        The ``[bioimageio]`` extra is missing.
    """
    _require()
    from bioimageio.spec import InvalidDescr, load_model_description
    from bioimageio.spec.model import v0_5

    try:
        descr = load_model_description(str(path), perform_io_checks=False)
    except Exception as exc:  # noqa: BLE001 - any reader failure is "not a readable package"
        raise CheckpointError(f"{path} is not a readable BioImage.IO model: {exc}") from None
    if isinstance(descr, InvalidDescr) or not isinstance(descr, v0_5.ModelDescr):
        kind = "invalid" if isinstance(descr, InvalidDescr) else "of an older format"
        raise CheckpointError(f"{path}: the BioImage.IO description is {kind}; "
                              "napari-blind-denoise reads format 0.5 models")
    ipt, out = _single_io(descr, path)
    channels, minimum, step = _input_axes(ipt, path)
    norm = _input_norm(ipt.preprocessing, channels, path)
    out_gain, out_offset, clip = _output_affine(out.postprocessing, channels, path)
    net, weights = _load_network(descr, path)
    model = PackageNetwork(net, minimum, step, out_gain, out_offset, clip, norm)
    model.to(device).eval()
    depth = max(1, min(6, round(math.log2(step)) if step > 1 else 1))
    config = DenoiseConfig(method="bioimageio", model=ModelConfig(
        depth=depth, in_channels=channels, out_channels=channels))
    ours = (descr.config.model_extra or {}).get(CONFIG_KEY) or {}
    axes = str(ours.get("axes") or ("CYX" if channels > 1 else "YX"))
    info = {"bioimageio": {"name": descr.name, "source": str(path), "weights": weights,
                           "method": ours.get("method")},
            "steps": (ours.get("info") or {}).get("steps")}
    return TrainedModel(model, config, norm, axes, info)


def _single_io(descr, path):
    if len(descr.inputs) != 1 or len(descr.outputs) != 1:
        raise CheckpointError(f"{path}: the model has {len(descr.inputs)} inputs and "
                              f"{len(descr.outputs)} outputs; a denoiser has one of each")
    return descr.inputs[0], descr.outputs[0]


def _input_axes(ipt, path) -> tuple[int, int, int]:
    """``(channels, minimum size, size step)`` of a ``b? c? y x`` input."""
    from bioimageio.spec.model import v0_5 as bio

    kinds = [a.type for a in ipt.axes]
    spatial = [a for a in ipt.axes if a.type == "space"]
    if [str(a.id) for a in spatial] != ["y", "x"] or set(kinds) - {"batch", "channel", "space"}:
        raise CheckpointError(f"{path}: input axes {[str(a.id) for a in ipt.axes]}; "
                              "napari-blind-denoise runs 2-D models (b, c, y, x)")
    channels = next((len(a.channel_names) for a in ipt.axes if a.type == "channel"), 1)
    minimum, step = 1, 1
    for axis in spatial:
        size = axis.size
        if isinstance(size, bio.ParameterizedSize):
            minimum, step = max(minimum, size.min), max(step, size.step)
        elif isinstance(size, int):
            raise CheckpointError(f"{path}: the model takes a fixed {size}-pixel {axis.id} "
                                  "size; napari-blind-denoise tiles need a variable size")
    return channels, minimum, step


def _affine_of(proc, channels: int, path) -> tuple[np.ndarray, np.ndarray] | None:
    """``gain, offset`` of one per-pixel affine processing step (``None``: a step that does
    not scale); refuses steps that depend on each image's statistics."""
    kw, pid = proc.kwargs, proc.id
    if str(getattr(kw, "axis", "channel")) != "channel":
        raise CheckpointError(f"{path}: {pid} along axis {kw.axis} is not supported")
    ones = np.ones(channels)
    if pid == "scale_linear":
        return ones * np.asarray(kw.gain, float), ones * np.asarray(kw.offset, float)
    if pid == "fixed_zero_mean_unit_variance":
        std = np.asarray(kw.std, float) + getattr(kw, "eps", 1e-6)
        return ones / std, -ones * np.asarray(kw.mean, float) / std
    if pid == "ensure_dtype":
        return None
    raise CheckpointError(
        f"{path}: the processing step {pid!r} is not supported: napari-blind-denoise "
        "predicts tile by tile, so it needs fixed per-pixel processing (scale_linear, "
        "fixed_zero_mean_unit_variance, clip, ensure_dtype); statistics of each image "
        "would change from tile to tile")


def _compose(steps, channels: int, path):
    """``gain, offset`` of the composed steps and a final clip ``(min, max)`` or ``None``."""
    gain, offset, clip = np.ones(channels), np.zeros(channels), None
    for proc in steps:
        if proc.id == "clip":
            lo, hi = proc.kwargs.min, proc.kwargs.max
            clip = (-np.inf if lo is None else float(lo), np.inf if hi is None else float(hi))
            continue
        step = _affine_of(proc, channels, path)
        if step is None:
            continue
        if clip is not None:
            raise CheckpointError(f"{path}: scaling after a clip is not supported")
        gain, offset = gain * step[0], offset * step[0] + step[1]
    return gain, offset, clip


def _input_norm(steps, channels: int, path) -> NormStats:
    gain, offset, clip = _compose(steps, channels, path)
    if clip is not None:
        raise CheckpointError(f"{path}: clipping the input is not supported")
    if np.any(gain <= 0):
        raise CheckpointError(f"{path}: the input processing flips or zeroes intensities")
    low = -offset / gain
    return NormStats(low=tuple(map(float, low)), high=tuple(map(float, low + 1.0 / gain)))


def _output_affine(steps, channels: int, path):
    gain, offset, clip = _compose(steps, channels, path)
    return gain.tolist(), offset.tolist(), clip


def _load_network(descr, path) -> tuple[nn.Module, str]:
    """The TorchScript weights, else our own ``pytorch_state_dict`` architecture."""
    from bioimageio.spec.utils import download

    weights = descr.weights
    if weights.torchscript is not None:
        data = io.BytesIO(download(weights.torchscript.source).read())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.load
                return torch.jit.load(data, map_location="cpu").eval(), "torchscript"
        except (RuntimeError, OSError) as exc:
            raise CheckpointError(f"{path}: its TorchScript weights do not load ({exc})") \
                from None
    sd = weights.pytorch_state_dict
    arch = getattr(sd, "architecture", None) if sd is not None else None
    if arch is not None and getattr(arch, "import_from", "").startswith("napari_blind_denoise"):
        import importlib

        factory = getattr(importlib.import_module(arch.import_from), str(arch.callable))
        net = factory(**dict(arch.kwargs))
        state = torch.load(io.BytesIO(download(sd.source).read()), map_location="cpu",
                           weights_only=True)
        net.load_state_dict(state)
        return net.eval(), "pytorch_state_dict"
    formats = [f for f in ("pytorch_state_dict", "onnx", "tensorflow_saved_model_bundle",
                           "keras_hdf5", "tensorflow_js") if getattr(weights, f) is not None]
    where = f" from {arch.import_from}" if arch is not None and hasattr(arch, "import_from") \
        else ""
    raise CheckpointError(
        f"{path}: no weights napari-blind-denoise can run without other packages: it runs "
        f"TorchScript weights (and its own state dicts); this model has {formats}"
        f"{where}")
