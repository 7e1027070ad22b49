"""The method interface: everything a denoising method decides, in one object.

The trainer, the predictor, the pipeline, the CLI and the widgets hold a :class:`Method`
and ask it; none of them tests a method's id, its mask kind or its network's attributes.
A method decides:

- its network (:meth:`Method.network`) and how the parameters are optimised
  (:meth:`Method.param_groups`);
- how a training batch is made from sampled windows (:meth:`Method.batch_maker`): a masker
  for blind-spot training, none for an architectural blind spot, a second acquisition as
  the target for Noise2Noise (``inputs = 2``);
- its objective (:meth:`Method.objective`) and what it reports live (:meth:`Method.monitor`);
- what happens before and after training (:meth:`Method.prepare`, :meth:`Method.finish`);
- how it infers (:meth:`Method.inference_modes`, :meth:`Method.inferrer`), with which
  outputs in the same pass (:meth:`Method.joint_inferrer`), and what it shows while it
  trains (:meth:`Method.preview_inferrer`);
- the extra outputs it produces (:meth:`Method.outputs`), declared as :class:`ExtraOutput`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from ..config import (
    DenoiseConfig,
    MaskConfig,
    ModelConfig,
    NoiseModelConfig,
    TileConfig,
    TrainConfig,
)
from ..data.patches import DIHEDRAL
from ..device import autocast
from ..losses import masked_mse

if TYPE_CHECKING:
    from ..data.axes import Layout
    from ..data.normalize import NormStats
    from ..events import PredictEvent
    from ..masking import Masker
    from ..trained import TrainedModel


class Batch(NamedTuple):
    """One training batch, all ``(B, C, Y, X)``: ``input`` goes into the network, the loss
    compares its output with ``target`` where ``mask`` (float, 1 = scored) is set."""

    input: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor


class Scores(NamedTuple):
    """``loss`` to minimise, masked-pixel ``mse`` (detached) and the ``signal`` estimate."""

    loss: torch.Tensor
    mse: torch.Tensor
    signal: torch.Tensor


class Fitted(NamedTuple):
    """One candidate evaluated by a method that is fitted rather than trained
    (:meth:`Method.fit`), with the best candidate so far.

    ``loss`` is this candidate's, ``best`` the lowest so far; ``n_steps`` the candidates in
    all; ``config`` the configuration of the best so far (its :meth:`Method.network` is the
    kept model) and ``info`` what to record about it in the model's ``info["adapted"]``;
    ``notice`` one line for the user about the best so far (shown when fitting ends).
    """

    loss: float
    best: float
    n_steps: int
    config: DenoiseConfig
    info: dict[str, Any]
    notice: str


class Monitor(NamedTuple):
    """What a method reports at a validation step: a live ``curve`` for the
    :class:`~napari_blind_denoise.core.events.TrainEvent` and ``info`` for the model."""

    curve: tuple[tuple[float, ...], tuple[float, ...]] | None
    info: dict[str, Any]


OutputKind = Literal["image", "curve", "table"]


@dataclass
class OutputContext:
    """What an extra output is computed from (all in the input's intensity units).

    ``tile`` and ``device`` are how the denoised image was predicted. ``results`` holds the
    outputs computed before this one, by name.
    """

    trained: TrainedModel
    noisy: Any
    denoised: Any
    layout: Layout
    stop: threading.Event | None = None
    tile: TileConfig | None = None
    device: Any = "auto"
    results: dict[str, Any] = field(default_factory=dict)
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per context (shared work of several outputs)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]


@dataclass(frozen=True)
class ExtraOutput:
    """An output a method adds to the denoised image.

    Parameters
    ----------
    name
        Identifier and file stem (``noise_std`` -> ``noise_std.tif``).
    kind
        ``"image"``: an array of the input's shape, written by ``compute(ctx, out)``, a
        generator of :class:`PredictEvent`; ``"curve"``: ``compute(ctx)`` returns one
        ``(x, y)`` pair of arrays per channel (a CSV per channel); ``"table"``:
        ``compute(ctx)`` returns a JSON-ready dict.
    group
        The family it belongs to; the CLI writes a group with ``--<group>-out DIR``.
    label
        Human name (layer suffix, plot legend).
    compute
        See ``kind``.
    colormap
        Image outputs: the layer's colormap.
    files
        Written by the CLI's ``--<group>-out`` (else shown in the viewer only).
    style
        Curves: ``"model"`` (a line) or ``"measured"`` (points).
    columns
        Curves: the CSV header.
    summary
        Tables: a one-line text for the user from the dict, or ``None``.
    report
        Tables: ``(key in the CLI's JSON summary, key in the table)`` pairs.
    joint
        Image outputs: the method's :meth:`Method.joint_inferrer` can give it in the same
        pass as the denoised image (e.g. the spread of the ensemble that is averaged);
        ``compute`` is then used only for inference modes where it cannot.
    """

    name: str
    kind: OutputKind
    group: str
    label: str
    compute: Callable[..., Any]
    colormap: str = "gray"
    files: bool = True
    style: Literal["model", "measured"] = "model"
    columns: tuple[str, str] = ("x", "y")
    summary: Callable[[dict[str, Any]], str] | None = None
    report: tuple[tuple[str, str], ...] = ()
    joint: bool = False


@dataclass(frozen=True)
class ExportedNetwork:
    """A model as an exchange format (BioImage.IO) carries it: one network that maps a
    normalised ``(B, C, Y, X)`` tile to the normalised denoised tile in one pass.

    Attributes
    ----------
    module
        The network (its ``state_dict`` and a traced TorchScript are what is exported).
    factory, kwargs
        ``"package.module:function"`` and the plain keyword arguments that rebuild
        ``module``'s architecture (for the ``pytorch_state_dict`` weights).
    divisor
        Y and X sizes the network takes: multiples of this.
    note
        What the package leaves out of the method (shown to the user), or ``""``.
    """

    module: nn.Module
    factory: str
    kwargs: dict[str, Any]
    divisor: int
    note: str = ""


def unet_export(module: nn.Module, config: ModelConfig, note: str = "") -> ExportedNetwork:
    """The :class:`ExportedNetwork` of a UNet built from ``config``."""
    from dataclasses import asdict

    return ExportedNetwork(module, "napari_blind_denoise.core.nets.unet:build_unet",
                           asdict(config), config.divisor, note)


class NotExportable(ValueError):
    """A model whose prediction is not one plain network pass (no single-network package)."""


@dataclass(frozen=True)
class ExtraInput:
    """A further array a method trains on besides the noisy image (``Method.inputs`` > 1),
    declared so the front ends can ask for it.

    Parameters
    ----------
    name
        Identifier; the CLI reads it from ``--<name> PATH`` (a file of the image's shape).
    label
        The widget's row label (a layer picker shown for this method only).
    help
        One line on what to give (tooltip, CLI help).
    """

    name: str
    label: str
    help: str


BatchMaker = Callable[[Sequence[torch.Tensor], torch.Generator], Batch]
Inferrer = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def masked_l2(model: nn.Module, batch: Batch) -> Scores:
    """Masked-pixel mean squared error of ``model(batch.input)`` against ``batch.target``."""
    with autocast(batch.input.device):
        pred = model(batch.input)
    pred = pred.float()
    loss = masked_mse(pred, batch.target, batch.mask)
    return Scores(loss, loss.detach(), pred)


class Method:
    """Base class of the denoising methods: override what differs.

    Class attributes
    ----------------
    id, name, description
        Registry key (CLI ``--method``, layer suffix), display name, one-line summary.
    inputs
        Arrays per training sample: 1 (the noisy image) or 2 (two noisy acquisitions of the
        same field, Noise2Noise); the trainer samples the same windows from each.
    extra_inputs
        What the front ends ask for besides the noisy image (one :class:`ExtraInput` per
        further array), e.g. Noise2Noise's second acquisition.
    mask
        The masking options stored in the method's default configuration.
    noise_model_kinds
        Kinds of learned noise model the method accepts (empty: none).
    known_sigma_kinds
        Kinds whose Gaussian noise may be given instead of learned
        (``NoiseModelConfig.sigma``; empty: the noise is always learned).
    estimated_kinds
        Kinds whose parameters may be estimated from the data and held instead of learned
        (``NoiseModelConfig.fit == "estimate"``), or estimated per image by an auxiliary
        network (``"network"``); ``estimated_by_default`` those of them estimated and held
        unless the user asks otherwise.
    accepts_missing
        The method treats non-finite pixels (NaN, inf) as unknown: never in the input, never
        scored, filled in by prediction. Others refuse images with such pixels.
    live_preview
        Whether the train widget shows a live preview by default (a cheap one, or a method
        whose users watch it converge, such as ``s2s``); see :meth:`preview_inferrer`.
    compared_with_classical
        After training, the pipeline may compare the model's J-invariant self-supervised
        loss with a calibrated classical filter's (the yardstick); off for the classical
        filter itself.
    loss_label
        What the train widget's loss plot shows for this method (the trainer's ``mse``
        fields: the masked-pixel MSE for blind-spot methods).
    citation
        ``(text, doi or URL)`` of the method's paper (cited by exported models).
    options
        ``(field, default factory)``: the method's own section of :class:`DenoiseConfig`
        (``"self2self"``, ``"classical"``), filled with its default by :meth:`fit_config`
        when absent; ``None`` for a method without one.
    downsamples
        The method trains on pixel-shuffle sub-images when ``config.mask.downsample`` asks
        for it (``n2v``, ``n2s``); others refuse a ``downsample`` other than 1.
    spatial_dims
        The network dimensions the method builds (``ModelConfig.dims``): ``(2,)``, or
        ``(2, 3)`` for a method with a 3-D network for ZYX volumes (``n2v``, ``n2s``,
        ``nnet``), whose masker, inference and network then take ``(B, C, Z, Y, X)``
        batches.
    """

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    inputs: ClassVar[int] = 1
    extra_inputs: ClassVar[tuple[ExtraInput, ...]] = ()
    mask: ClassVar[MaskConfig] = MaskConfig()
    noise_model_kinds: ClassVar[tuple[str, ...]] = ()
    known_sigma_kinds: ClassVar[tuple[str, ...]] = ()
    estimated_kinds: ClassVar[tuple[str, ...]] = ()
    estimated_by_default: ClassVar[tuple[str, ...]] = ()
    accepts_missing: ClassVar[bool] = False
    compared_with_classical: ClassVar[bool] = True
    loss_label: ClassVar[str] = "masked MSE"
    citation: ClassVar[tuple[str, str]] = ("", "")
    live_preview: ClassVar[bool] = False
    downsamples: ClassVar[bool] = False
    spatial_dims: ClassVar[tuple[int, ...]] = (2,)
    options: ClassVar[tuple[str, Callable[[], Any]] | None] = None

    @property
    def noise_model(self) -> bool:
        """True when the method learns a noise model."""
        return bool(self.noise_model_kinds)

    @property
    def blends(self) -> bool:
        """True when the method blends its network with a calibrated filter after training
        (its :attr:`options` section is ``blend``, :class:`~..config.BlendConfig`)."""
        return self.options is not None and self.options[0] == "blend"

    def __repr__(self) -> str:
        return f"<method {self.id}: {self.name}>"

    # -- configuration ----------------------------------------------------------------------
    def preset(self, name: str, model: ModelConfig, train: TrainConfig) -> dict[str, Any]:
        """:class:`DenoiseConfig` fields for the shared preset ``name`` (``cpu``, ``gpu``),
        given its ``model`` and ``train`` settings: ``model``, ``train`` and any section of
        the method's own. Default: the shared settings unchanged."""
        return {"model": model, "train": train}

    def noise_config(self, noise_model: str | NoiseModelConfig | None
                     ) -> NoiseModelConfig | None:
        """The noise-model configuration for a user's choice (``None``: the default)."""
        if not self.noise_model_kinds:
            if noise_model is not None:
                raise ValueError(f"method {self.id!r} has no noise model")
            return None
        if not isinstance(noise_model, NoiseModelConfig):
            kind = noise_model or self.noise_model_kinds[0]
            fit = "estimate" if kind in self.estimated_by_default else "learn"
            noise_model = NoiseModelConfig(kind=kind, fit=fit)
        self.check_noise_kind(noise_model)
        return noise_model

    def check_noise_kind(self, noise_model: NoiseModelConfig) -> None:
        """Refuse a noise-model kind this method does not learn, and a known noise sigma
        where the method would not use it."""
        if noise_model.kind not in self.noise_model_kinds:
            raise ValueError(f"noise model kind {noise_model.kind!r} is not one method "
                             f"{self.id!r} learns; choose from {list(self.noise_model_kinds)}")
        if noise_model.sigma is not None and noise_model.kind not in self.known_sigma_kinds:
            where = (f"noise model {list(self.known_sigma_kinds)}" if self.known_sigma_kinds
                     else "no noise model")
            raise ValueError(f"a known noise sigma applies to a Gaussian noise model given "
                             f"instead of learned: method {self.id!r} takes one with "
                             f"{where}, not {noise_model.kind!r}")
        if noise_model.fit != "learn" and noise_model.kind not in self.estimated_kinds:
            where = (f"noise model {list(self.estimated_kinds)}" if self.estimated_kinds
                     else "none of its noise models")
            how = ("estimated from the data and held" if noise_model.fit == "estimate"
                   else "estimated per image by an auxiliary network")
            raise ValueError(f"noise parameters {how}: method {self.id!r} takes them with "
                             f"{where}, not {noise_model.kind!r}")

    def fit_config(self, config: DenoiseConfig) -> DenoiseConfig:
        """``config`` completed and checked for this method (its :attr:`options` section,
        its noise model, and no pixel-shuffle downsampling unless it :attr:`downsamples`)."""
        if self.options is not None and getattr(config, self.options[0]) is None:
            from dataclasses import replace

            config = replace(config, **{self.options[0]: self.options[1]()})
        if config.mask.downsample != 1 and not self.downsamples:
            with_it = ", ".join(m.id for m in _registered() if m.downsamples)
            raise ValueError(f"pixel-shuffle downsampling applies to {with_it}, not method "
                             f"{self.id!r}; leave downsample at 1")
        if config.noise_model is None and self.noise_model_kinds:
            from dataclasses import replace

            return replace(config, noise_model=self.noise_config(None))
        if config.noise_model is not None and not self.noise_model_kinds:
            raise ValueError(f"method {self.id!r} has no noise model; "
                             "leave DenoiseConfig.noise_model as None")
        if config.noise_model is not None:
            self.check_noise_kind(config.noise_model)
        return config

    # -- training ---------------------------------------------------------------------------
    def adapt(self, config: DenoiseConfig, data, layout: Layout
              ) -> tuple[DenoiseConfig, dict[str, Any]]:
        """Choices made from the training data when training starts (default: none).

        Returns the configuration to train with and what to record in the model's ``info``;
        an ``info["notice"]`` line is shown to the user before the first step.
        """
        return config, {}

    def fit(self, config: DenoiseConfig, data, layout: Layout, norm: NormStats,
            stop: threading.Event) -> Iterator[Fitted] | None:
        """A method with nothing to optimise (a classical filter whose parameters are chosen
        by a self-supervised loss) fits here instead of the trainer's loop: one
        :class:`Fitted` per candidate evaluated, the best so far in each.

        The trainer stops asking for more on ``stop`` or when the time budget is spent (it
        keeps the best so far); the method checks ``stop`` within long candidates and ends
        early once it is set (after its first candidate, so there is always a model).
        Default: ``None``, the network is trained by the optimiser.
        """
        return None

    def network(self, config: DenoiseConfig) -> nn.Module:
        """The whole trainable network (``forward`` returns the denoised signal)."""
        from ..nets import UNet

        return UNet(config.model)

    def masker(self, config: DenoiseConfig) -> Masker | None:
        """What hides pixels during training; ``None`` for a blind spot built into the net."""
        return None

    def batch_maker(self, config: DenoiseConfig) -> BatchMaker:
        """Turns sampled windows (one tensor per input array) into a training batch.

        Default: the masker's output against the unmasked window, scored on the masked
        pixels; without a masker, the window itself, scored everywhere.
        """
        masker = self.masker(config)

        def make(sources: Sequence[torch.Tensor], generator: torch.Generator) -> Batch:
            noisy = sources[0]
            if masker is None:
                return Batch(noisy, noisy, torch.ones_like(noisy))
            masked = masker(noisy, generator)
            return Batch(masked.input, noisy, masked.mask)

        return make

    def objective(self, model: nn.Module, batch: Batch) -> Scores:
        """Loss of ``model`` on ``batch`` (default: masked-pixel squared error)."""
        return masked_l2(model, batch)

    def param_groups(self, model: nn.Module, config: DenoiseConfig) -> list[dict]:
        """Optimiser parameter groups; ``lr_scale`` and ``lr_max`` bound each group's rate."""
        return [{"params": list(model.parameters()), "lr_scale": 1.0, "lr_max": math.inf}]

    def prepare(self, model: nn.Module, data, layout: Layout, norm: NormStats,
                config: DenoiseConfig) -> None:
        """Set data-dependent constants of a new network before training (default: none)."""

    def monitor(self, model: nn.Module, signal: torch.Tensor, norm: NormStats) -> Monitor:
        """What to report at a validation step from the validation ``signal`` estimate."""
        return Monitor(None, {})

    def transforms(self, config: DenoiseConfig) -> tuple[int, ...]:
        """The flips/rotations (:func:`~..data.patches.augment` indices) that leave what the
        model assumes unchanged: drawn from in training and averaged over by test-time
        augmentation. Default: all 8."""
        return DIHEDRAL

    def auto_tta(self, config: DenoiseConfig, mode: str) -> bool:
        """Whether ``tta="auto"`` may average inference ``mode`` over :meth:`transforms`
        (it still needs a small enough image, ``core.predict.resolve_tta``). Default: no; a
        method says yes where the gain was measured and a pass is cheap."""
        return False

    def finish(self, trained: TrainedModel, data, layout: Layout, *,
               stop: threading.Event | None = None) -> TrainedModel:
        """A post-training step on the kept model (default: none).

        It must check ``stop`` at least every few tens of milliseconds of work and, once
        set, return the kept model as it is (noting in ``trained.info`` what was skipped).
        """
        return trained

    # -- inference --------------------------------------------------------------------------
    def inference_modes(self, config: DenoiseConfig) -> tuple[str, ...]:
        """Inference modes a model of this configuration supports; the first is the default."""
        return ("unmasked",)

    def inferrer(self, trained: TrainedModel, mode: str) -> Inferrer:
        """``(network, normalised tile (B, C, Y, X)) -> denoised tile`` for ``mode``.

        Raises
        ------
        ValueError
            The mode is not one of :meth:`inference_modes`.
        """
        self.check_mode(trained.config, mode)
        return lambda model, x: model(x).float()

    def sequential_inference(self, config: DenoiseConfig, mode: str) -> str:
        """Why the tiles of ``mode`` must be predicted in order in one process (e.g. they
        draw from one random generator in turn), or ``""`` (the default) when a tile's
        prediction depends on the tile alone: then tiles may be predicted apart, by other
        processes (``napari_blind_denoise.distributed``), with bitwise the same result."""
        return ""

    def export_network(self, trained: TrainedModel) -> ExportedNetwork:
        """The model as one network for an exchange format (BioImage.IO).

        Default: the network itself when the method keeps both the default network (the
        UNet of ``config.model``) and the default inference (one plain pass); a method that
        replaces either must override this or its models are refused.

        Raises
        ------
        NotExportable
            The method's prediction is not one pass of one network.
        """
        cls = type(self)
        if cls.network is not Method.network or cls.inferrer is not Method.inferrer:
            raise NotExportable(
                f"{self.name} ({self.id}) models cannot be exported as a single-network "
                "model package: their prediction is not one plain pass of one network "
                f"({self.description})")
        return unet_export(trained.model, trained.config.model)

    def joint_inferrer(self, trained: TrainedModel, mode: str, names: tuple[str, ...]
                       ) -> Inferrer | None:
        """An inferrer for the denoised tile and the image outputs ``names`` (declared
        ``joint``) in one pass, or ``None`` when this mode cannot give them (each is then
        computed on its own by its ``compute``). Default: ``None``.

        It returns ``(B, C * (1 + len(names)), Y, X)``: the denoised channels first, then
        each output's ``C`` channels in the order of ``names``, each block normalised like
        the denoised tile (the predictor de-normalises every block with the image's
        statistics). The denoised block must equal what :meth:`inferrer` gives.
        """
        return None

    def preview_inferrer(self, trained: TrainedModel) -> Inferrer:
        """What a live preview during training shows of a small crop: the default mode's
        inferrer unless the method has a cheaper one (``s2s``: fewer passes)."""
        return self.inferrer(trained, self.inference_modes(trained.config)[0])

    def check_mode(self, config: DenoiseConfig, mode: str) -> None:
        """Refuse an inference mode the model does not support."""
        modes = self.inference_modes(config)
        if mode not in modes:
            raise ValueError(f"inference mode {mode!r} is not available for {self.id!r} "
                             f"models; choose from {list(modes)}")

    def remedy(self, config: DenoiseConfig) -> str:
        """What to try when a result kept the noise (shown with the warning), or ``""``."""
        return ""

    # -- outputs ----------------------------------------------------------------------------
    def outputs(self) -> tuple[ExtraOutput, ...]:
        """The extra outputs this method produces besides the denoised image."""
        return ()


def _registered() -> list[Method]:
    from . import METHODS  # the registry imports this module

    return list(METHODS.values())


ImageCompute = Callable[[OutputContext, Any], Generator["PredictEvent", None, None]]
CurveCompute = Callable[[OutputContext], list[tuple[np.ndarray, np.ndarray]]]
