"""Model folders: ``weights.safetensors`` (no pickle, ever) plus ``config.json``.

One model per channel (:class:`~.trained.ChannelModels`) is one folder too: the weights of
channel ``c``'s model under keys prefixed ``channel<c>.``, and ``config.json`` listing each
model's configuration, normalisation and summary under ``channel_models`` (format version
2; a joint model keeps version 1, which older versions read)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .atomic import check_replaceable, remove_path, replace_path, tmp_sibling
from .config import DenoiseConfig
from .data.normalize import NormStats
from .errors import CheckpointError
from .methods import get_method
from .trained import ChannelModels, TrainedModel
from .version import __version__

FORMAT = "napari-blind-denoise/model"
FORMAT_VERSION = 2  # the newest this version reads and writes
SEPARATE_VERSION = 2  # one model per channel (channel_models)
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"


def is_model_folder(path: str | os.PathLike) -> bool:
    """True for a model folder this program wrote: its manifest and weights, nothing else."""
    path = Path(path)
    if not path.is_dir() or {p.name for p in path.iterdir()} != {CONFIG, WEIGHTS}:
        return False
    try:
        _read_meta(path)
    except CheckpointError:
        return False
    return True


def save_model(trained: TrainedModel | ChannelModels, folder: str | os.PathLike) -> Path:
    """Write a model folder atomically (a temporary sibling folder renamed into place).

    An existing ``folder`` is replaced only if it is a model folder this program wrote
    (:func:`is_model_folder`); anything else raises
    :class:`~napari_blind_denoise.core.atomic.ForeignDataError` and is left untouched.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    check_replaceable(folder, is_model_folder, what="model folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(folder)
    tmp.mkdir()
    try:
        save_file(_weights(trained), str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(_meta(trained), indent=2))
        replace_path(tmp, folder, is_model_folder)
    finally:
        remove_path(tmp)
    return folder


def _prefix(c: int) -> str:
    return f"channel{c}."


def _weights(trained: TrainedModel | ChannelModels) -> dict[str, torch.Tensor]:
    if isinstance(trained, ChannelModels):
        return {_prefix(c) + k: v for c, m in enumerate(trained.models)
                for k, v in _weights(m).items()}
    return {k: v.detach().to("cpu").contiguous() for k, v in
            trained.model.state_dict().items()}


def _meta(trained: TrainedModel | ChannelModels) -> dict:
    meta = {
        "format": FORMAT,
        "format_version": 1,
        "package_version": __version__,
        "method": trained.method,
        "axes": trained.axes,
        "config": trained.config.to_dict(),
    }
    if isinstance(trained, ChannelModels):
        info = {k: v for k, v in trained.info.items() if k != "channels"}
        return {**meta, "format_version": SEPARATE_VERSION, "info": info,
                "channel_models": [{"axes": m.axes, "config": m.config.to_dict(),
                                    "normalization": m.norm.to_dict(), "info": m.info}
                                   for m in trained.models]}
    return {**meta, "normalization": trained.norm.to_dict(), "info": trained.info}


BYTES_KEY = "napari_blind_denoise"  # the configuration's key in the safetensors header


def model_bytes(trained: TrainedModel | ChannelModels) -> bytes:
    """The model as one safetensors byte string, its configuration (the model folder's
    ``config.json``) as JSON in the header's metadata: a model folder in memory, e.g. to
    send to other processes (``napari_blind_denoise.distributed``). No pickle.

    Raises
    ------
    NotExportable
        The method rebuilds no network from a configuration (an imported BioImage.IO model).
    """
    from safetensors.torch import save

    models = trained.models if isinstance(trained, ChannelModels) else [trained]
    for model in models:
        model.spec.network(model.config)  # refuses a network it cannot rebuild
    return save(_weights(trained), metadata={BYTES_KEY: json.dumps(_meta(trained))})


def model_from_bytes(blob: bytes, device: str | torch.device = "cpu",
                     ) -> TrainedModel | ChannelModels:
    """Inverse of :func:`model_bytes`.

    Raises
    ------
    CheckpointError
        Not bytes from :func:`model_bytes`, or weights that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        size = int.from_bytes(blob[:8], "little")
        meta = json.loads(json.loads(blob[8:8 + size])["__metadata__"][BYTES_KEY])
        state = load(blob)
    except (SafetensorError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"not a model's bytes ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("not a napari-blind-denoise model's bytes")
    return _build(meta, state, "the model's bytes", device)


def _read_meta(folder: Path) -> dict:
    cfg_path = folder / CONFIG
    if not folder.is_dir():
        raise CheckpointError(f"model folder {folder} does not exist")
    if not cfg_path.is_file() or not (folder / WEIGHTS).is_file():
        raise CheckpointError(f"{folder} is not a napari-blind-denoise model folder "
                              f"(needs {CONFIG} and {WEIGHTS})")
    try:
        meta = json.loads(cfg_path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{cfg_path} is corrupt: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{cfg_path} is not a napari-blind-denoise model configuration")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{folder} was written by a newer napari-blind-denoise "
                              f"({meta.get('package_version')}); please upgrade")
    return meta


def load_model(folder: str | os.PathLike, device: str | torch.device = "cpu",
               ) -> TrainedModel | ChannelModels:
    """Read a model folder written by :func:`save_model` (one model per channel: a
    :class:`~.trained.ChannelModels`), or a BioImage.IO model package (``.zip``, or a
    folder with ``rdf.yaml``; :func:`~.bioimageio.load_bioimageio`).

    Raises
    ------
    CheckpointError
        Missing files, corrupt JSON or weights, or weights that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from .bioimageio import is_bioimageio_package, load_bioimageio

    folder = Path(folder)
    if is_bioimageio_package(folder):
        return load_bioimageio(folder, device)
    if folder.is_file():
        raise CheckpointError(f"{folder} is a file, neither a model folder nor a BioImage.IO "
                              "model package (.zip)")
    meta = _read_meta(folder)
    try:
        state = load_file(str(folder / WEIGHTS), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / WEIGHTS} is corrupt or not a safetensors file "
                              f"({exc})") from None
    return _build(meta, state, folder, device, folder / CONFIG)


def _build(meta: dict, state: dict[str, torch.Tensor], where, device,
           config_path=None) -> TrainedModel | ChannelModels:
    """The model ``meta`` (a ``config.json``) describes, with the weights ``state``."""
    if "channel_models" in meta:
        return _build_channels(meta, state, where, device, config_path)
    try:
        config = DenoiseConfig.from_dict(meta["config"])
        norm = NormStats.from_dict(meta["normalization"])
        axes = str(meta["axes"])
        method = get_method(config.method)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path or where} is incomplete or invalid: "
                              f"{exc}") from None
    model = method.network(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise CheckpointError(f"weights in {where} do not match the stored architecture "
                              f"({first})") from None
    model.to(device).eval()
    return TrainedModel(model, config, norm, axes, dict(meta.get("info", {})))


def _build_channels(meta: dict, state: dict[str, torch.Tensor], where, device,
                    config_path=None) -> ChannelModels:
    """The models of a folder of one model per channel, each from its ``channel<c>.``
    weights."""
    try:
        parts, config = meta["channel_models"], DenoiseConfig.from_dict(meta["config"])
        axes, info = str(meta["axes"]), dict(meta.get("info", {}))
        if not isinstance(parts, list) or len(parts) != config.model.in_channels:
            raise ValueError(f"{config.model.in_channels} channels but "
                             f"{len(parts) if isinstance(parts, list) else 'no'} models")
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{config_path or where} is incomplete or invalid: "
                              f"{exc}") from None
    models = []
    for c, part in enumerate(parts):
        prefix = _prefix(c)
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        models.append(_build({"method": meta.get("method"), **part}, own,
                             f"{where} (channel {c})", device, config_path))
    info["channels"] = [m.info for m in models]
    return ChannelModels(models, config, axes, info)
