"""Networks."""

from .noise_net import DenoiserWithNoiseModel, Mixture, NoiseNet
from .unet import UNet, build_model, build_network

__all__ = ["DenoiserWithNoiseModel", "Mixture", "NoiseNet", "UNet", "build_model",
           "build_network"]
