"""Networks: the UNet (the denoiser of every masked method) and the N-net noise model."""

from .noise_net import DenoiserWithNoiseModel, Mixture, NoiseNet
from .unet import UNet

__all__ = ["DenoiserWithNoiseModel", "Mixture", "NoiseNet", "UNet"]
