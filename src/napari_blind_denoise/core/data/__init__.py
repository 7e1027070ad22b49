"""Data handling: axes and layouts, validation, normalisation, patch sampling, tiling."""
