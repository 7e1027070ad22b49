"""Models read from a BioImage.IO package: a network between the package's own pre- and
post-processing, applied in one pass (``core/bioimageio.py`` reads the package).

Not a training method: it is found by :func:`~napari_blind_denoise.core.methods.get_method`
for loaded models, and never listed among the methods to train (``METHODS``).
"""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from ..config import DenoiseConfig
from ..data.patches import AXIS_PRESERVING
from .base import Method, NotExportable


class PackagedModel(Method):
    """A network read from a BioImage.IO model package."""

    id = "bioimageio"
    name = "BioImage.IO model"
    description = "A network read from a BioImage.IO model package, applied in one pass."
    compared_with_classical: ClassVar[bool] = False

    def network(self, config: DenoiseConfig) -> nn.Module:
        """Refused: the network comes from its package, not from a configuration."""
        raise NotExportable("a BioImage.IO model is read from its package (a .zip or a folder "
                            "with rdf.yaml), not rebuilt from a configuration")

    def transforms(self, config: DenoiseConfig) -> tuple[int, ...]:
        """Flips that keep Y and X in place (what the network assumes is unknown)."""
        return AXIS_PRESERVING
