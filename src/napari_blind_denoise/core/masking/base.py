"""The masker protocol shared by all blind-spot training schemes."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch


class Masked(NamedTuple):
    """A masked batch: ``input`` goes into the network, the loss uses ``mask`` only.

    All three tensors are ``(B, C, Y, X)``; ``mask`` is float (1 = masked, scored pixel).
    """

    input: torch.Tensor
    mask: torch.Tensor


class Masker(Protocol):
    """Turns a clean-looking-to-the-net batch into ``Masked`` input plus a loss mask."""

    def __call__(self, batch: torch.Tensor, generator: torch.Generator) -> Masked:
        """Mask ``batch`` (B, C, Y, X); randomness only from ``generator``."""
        ...
