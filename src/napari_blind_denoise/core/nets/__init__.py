"""Networks: the UNet (the denoiser of every masked method), the N-net noise model and the
Self2Self partial-convolution network, the blind-spot network of ``bsn``."""

from .blindspot_net import BayesianBlindSpot, BlindSpotNet, HalfPlaneUNet, ParametricNoise
from .noise_net import DenoiserWithNoiseModel, Mixture, NoiseNet
from .pconv import PartialConv2d, Self2SelfNet
from .unet import UNet

__all__ = ["BayesianBlindSpot", "BlindSpotNet", "DenoiserWithNoiseModel", "HalfPlaneUNet",
           "Mixture", "NoiseNet", "ParametricNoise", "PartialConv2d", "Self2SelfNet", "UNet"]
