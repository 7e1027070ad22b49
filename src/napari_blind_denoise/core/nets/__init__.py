"""Networks: the UNet (the denoiser of every masked method), the N-net noise model and the
Self2Self partial-convolution network."""

from .noise_net import DenoiserWithNoiseModel, Mixture, NoiseNet
from .pconv import PartialConv2d, Self2SelfNet
from .unet import UNet

__all__ = ["DenoiserWithNoiseModel", "Mixture", "NoiseNet", "PartialConv2d", "Self2SelfNet",
           "UNet"]
