"""The N-net: a pixel-wise noise model ``p(Y - X | X)`` (Ollion et al. 2021).

The N-net maps a signal value to the parameters of a zero-mean Gaussian mixture. It is
pixel-wise: 1x1 convolutions, one small MLP per channel (grouped), so the noise may depend
on the signal's value but not on its neighbourhood. All values are in normalised units.
Being pixel-wise, it takes images ``(B, C, Y, X)`` and volumes ``(B, C, Z, Y, X)`` alike
(the voxels are laid out as one row for its 2-D convolutions).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import NoiseModelConfig

# initial component stds and (pre-centring) means, normalised units: distinct values break
# the symmetry between the components, which would otherwise receive identical gradients
_INIT_STD = (0.1, 0.05, 0.2)
_INIT_MEAN = (0.0, -0.05, 0.05)


class Mixture(NamedTuple):
    """Per-pixel Gaussian mixture, each tensor ``(B, C, K, Y, X)`` (``(B, C, K, Z, Y, X)``
    for a volume).

    ``log_weights`` are log-softmax normalised; ``means`` are centred so that the mixture
    has zero mean; ``stds`` are at least the configured floor.
    """

    log_weights: torch.Tensor
    means: torch.Tensor
    stds: torch.Tensor

    def total_std(self, dim: int = 2) -> torch.Tensor:
        """Standard deviation of the whole (zero-mean) mixture, ``(B, C, Y, X)``
        (``(B, C, Z, Y, X)``).

        ``dim`` is the component axis (2 for the ``(B, C, K, ...)`` layout).
        """
        w = self.log_weights.exp()
        return (w * (self.stds**2 + self.means**2)).sum(dim=dim).sqrt()


def _inv_softplus(y: float) -> float:
    return math.log(math.expm1(y))


class NoiseNet(nn.Module):
    """Signal ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)`` -> :class:`Mixture` of ``K`` components
    per pixel (voxel) and channel.

    Parameters
    ----------
    channels
        Image channels; each has its own MLP (grouped 1x1 convolutions).
    config
        Kind (number of components), hidden width and std floor.
    """

    def __init__(self, channels: int, config: NoiseModelConfig) -> None:
        super().__init__()
        self.channels = channels
        self.k = config.components
        self.min_std = config.min_std
        h, c = config.hidden, channels
        self.mlp = nn.Sequential(
            nn.Conv2d(c, c * h, 1, groups=c), nn.SiLU(),
            nn.Conv2d(c * h, c * h, 1, groups=c), nn.SiLU(),
            nn.Conv2d(c * h, c * 3 * self.k, 1, groups=c),
        )
        # quantisation step of the data per channel (normalised units; 0 = continuous),
        # set from the training data; saved with the weights
        self.register_buffer("bin_width", torch.zeros(channels))
        self._init_head()

    def _init_head(self) -> None:
        head = self.mlp[-1]
        k = self.k
        with torch.no_grad():
            head.weight.mul_(0.1)
            bias = torch.zeros(self.channels, 3, k)
            bias[:, 1] = torch.tensor(_INIT_MEAN[:k])
            bias[:, 2] = torch.tensor([_inv_softplus(s) for s in _INIT_STD[:k]])
            head.bias.copy_(bias.reshape(-1))

    def forward(self, signal: torch.Tensor) -> Mixture:
        """Mixture parameters at every pixel of ``signal`` ``(B, C, *spatial)`` (normalised
        units); tensors ``(B, C, K, *spatial)``."""
        b, c, *spatial = signal.shape
        flat = signal if len(spatial) == 2 else signal.reshape(b, c, -1, 1)
        raw = self.mlp(flat).reshape(b, c, 3, self.k, *spatial)
        log_w = F.log_softmax(raw[:, :, 0], dim=2)
        means = raw[:, :, 1]
        means = means - (log_w.exp() * means).sum(dim=2, keepdim=True)
        stds = F.softplus(raw[:, :, 2]) + self.min_std
        return Mixture(log_w, means, stds)


class DenoiserWithNoiseModel(nn.Module):
    """D-net (any denoiser) plus N-net; ``forward`` returns the D-net's signal estimate only.

    So tiled prediction treats it like any other denoiser; the noise model is reached
    through :attr:`noise_net`.
    """

    def __init__(self, denoiser: nn.Module, noise_net: NoiseNet) -> None:
        super().__init__()
        self.denoiser = denoiser
        self.noise_net = noise_net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoised signal of ``x`` ``(B, C, Y, X)`` (``(B, C, Z, Y, X)``: a 3-D D-net)."""
        return self.denoiser(x)
