"""Masking strategies: hide pixels from the network, score it on them."""

from .base import Masked, Masker
from .n2s import GridMasker
from .n2v import BlindSpotMasker
from .shuffle import merge_subimages, split_subimages
from .volume import VolumeBlindSpotMasker, VolumeGridMasker

__all__ = ["BlindSpotMasker", "GridMasker", "Masked", "Masker", "VolumeBlindSpotMasker",
           "VolumeGridMasker", "merge_subimages", "split_subimages"]
