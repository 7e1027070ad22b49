"""napari-blind-denoise: self-supervised denoising of microscopy images from noisy data only.

``from napari_blind_denoise import denoise`` gives the one-call API; the Qt-free engine lives
in :mod:`napari_blind_denoise.core`. Importing this package never imports napari or Qt.
"""

__all__ = ["__version__", "denoise"]


def __getattr__(name: str):
    if name == "denoise":
        from .core.api import denoise

        return denoise
    if name == "__version__":
        from .core.version import __version__

        return __version__
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
