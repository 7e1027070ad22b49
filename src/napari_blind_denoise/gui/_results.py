"""Turning a finished job into layers: each output zarr store becomes a lazily read layer."""

from __future__ import annotations

from ._layers import add_result_layer
from ._workers import JobResult

# role -> (layer-name suffix, colormap, copy the source's contrast limits)
OUTPUT_LAYERS = {
    "denoised": ("denoised", None, True),
    "noise_std": ("noise std", "magma", False),
    "residual": ("residual", "gray", False),
}


def open_store(path):
    """Open a committed zarr store read-only (the layer reads chunks on demand)."""
    import zarr

    return zarr.open_array(store=str(path), mode="r")


def add_outputs(viewer, source, result: JobResult, noise_plot=None) -> list:
    """Add one layer per output of ``result``, placed like ``source``; return the layers."""
    layers = []
    for role, path in result.outputs.items():
        suffix, cmap, same_contrast = OUTPUT_LAYERS.get(role, (role, "gray", False))
        data = open_store(path)
        provenance = dict(data.attrs.get("napari_blind_denoise", {}))
        provenance.update(role=role, store=str(path))
        if result.model_path is not None:
            provenance["model_path"] = str(result.model_path)
        kwargs = {}
        if same_contrast:
            kwargs["contrast_limits"] = tuple(source.contrast_limits)
        if cmap:
            kwargs["colormap"] = cmap
        layers.append(add_result_layer(viewer, data, source, f"{source.name} {suffix}",
                                       provenance, **kwargs))
    if noise_plot is not None and result.noise_curve is not None:
        noise_plot.set_curve(*result.noise_curve, force=True)
    if noise_plot is not None and result.empirical_curve is not None:
        noise_plot.set_empirical(*result.empirical_curve)
    return layers
