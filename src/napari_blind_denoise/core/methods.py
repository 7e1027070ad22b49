"""The one registry of denoising methods and presets; the CLI and the GUI read it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .config import DenoiseConfig, MaskConfig, ModelConfig, NoiseModelConfig, TrainConfig


@dataclass(frozen=True)
class Method:
    """A registered method: id (CLI ``--method``, layer suffix), display name and masking."""

    id: str
    name: str
    description: str
    mask: MaskConfig
    needs_pairs: bool = False
    noise_model: bool = False


METHODS: dict[str, Method] = {
    "n2v": Method(
        "n2v", "Noise2Void",
        "Blind-spot masking: random pixels replaced by a random neighbour (Krull et al. 2019).",
        # 3% masked pixels: measured ~0.9 dB better than the paper's 0.2% at equal time
        MaskConfig(kind="n2v", masked_fraction=0.03, neighbourhood_radius=2),
    ),
    "n2s": Method(
        "n2s", "Noise2Self",
        "J-invariant grid masking, masked pixels replaced by the mean of their neighbours "
        "(Batson & Royer 2019).",
        MaskConfig(kind="n2s", grid_period=4),
    ),
    "nnet": Method(
        "nnet", "N-net blind denoising",
        "Grid-masked denoiser (D-net) trained jointly with a pixel-wise noise model (N-net, "
        "Gaussian or Gaussian mixture) by masked-pixel likelihood (Ollion et al. 2021).",
        MaskConfig(kind="n2s", grid_period=4),
        noise_model=True,
    ),
}

PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    # small net, many steps: the fastest learner on a 2-core CPU (docs/benchmarks.md)
    "cpu": (ModelConfig(depth=2, base_channels=16),
            TrainConfig(steps=1500, patch_size=64, batch_size=16, learning_rate=3e-3)),
    # wider and deeper for a GPU, where a step costs little
    "gpu": (ModelConfig(depth=3, base_channels=32),
            TrainConfig(steps=6000, patch_size=96, batch_size=64, learning_rate=2e-3)),
}


def method_ids() -> list[str]:
    """Registered method ids in display order."""
    return list(METHODS)


def _noise_model(method: str, noise_model: str | NoiseModelConfig | None
                 ) -> NoiseModelConfig | None:
    if not METHODS[method].noise_model:
        if noise_model is not None:
            raise ValueError(f"method {method!r} has no noise model; noise_model applies to "
                             f"{[m for m, v in METHODS.items() if v.noise_model]}")
        return None
    if isinstance(noise_model, NoiseModelConfig):
        return noise_model
    return NoiseModelConfig() if noise_model is None else NoiseModelConfig(kind=noise_model)


def default_config(method: str = "n2v", preset: str = "cpu", *,
                   noise_model: str | NoiseModelConfig | None = None,
                   **train_overrides) -> DenoiseConfig:
    """Configuration for ``method`` with ``preset`` (``cpu`` or ``gpu``) and overrides.

    Parameters
    ----------
    method
        A registered method id.
    preset
        ``"cpu"`` or ``"gpu"``.
    noise_model
        Methods with a noise model (``nnet``) only: a kind (``"gaussian"``, ``"gmm2"``,
        ``"gmm3"``) or a :class:`NoiseModelConfig`; ``None`` gives the default (``gaussian``).
    train_overrides
        :class:`TrainConfig` fields (``steps=``, ``time_budget=``...).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {method_ids()}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {list(PRESETS)}")
    model, train = PRESETS[preset]
    return DenoiseConfig(method=method, mask=METHODS[method].mask, model=model,
                         train=replace(train, **train_overrides),
                         noise_model=_noise_model(method, noise_model))
