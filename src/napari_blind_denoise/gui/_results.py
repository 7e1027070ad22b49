"""Turning a finished job into layers and plots, from what the method declares."""

from __future__ import annotations

from ..core import PipelineResult
from ._layers import add_result_layer


def open_store(path):
    """Open a committed zarr store read-only (the layer reads chunks on demand)."""
    import zarr

    return zarr.open_array(store=str(path), mode="r")


def result_style(source, role: str, declared: dict | None = None) -> tuple[str, dict]:
    """How the layer of output ``role`` is named after ``source`` and drawn: ``(label,
    add_image keywords)``; the denoised image keeps the source's contrast limits, an extra
    output (``declared``: the method's outputs by name) its label and colormap."""
    if role == "denoised":
        return "denoised", {"contrast_limits": tuple(source.contrast_limits)}
    out = (declared or {})[role]
    return out.label, {"colormap": out.colormap}


def add_outputs(viewer, source, result: PipelineResult, curve_plot=None) -> list:
    """Add one layer per image output of ``result``, placed like ``source``, and draw its
    curves on ``curve_plot``; return the layers."""
    declared = {o.name: o for o in result.trained.spec.outputs()}
    layers = []
    for role, path in result.images.items():
        data = open_store(path)
        provenance = dict(data.attrs.get("napari_blind_denoise", {}))
        provenance.update(role=role, store=str(path))
        if result.model_path is not None:
            provenance["model_path"] = str(result.model_path)
        label, kwargs = result_style(source, role, declared)
        layers.append(add_result_layer(viewer, data, source, f"{source.name} {label}",
                                       provenance, **kwargs))
    if curve_plot is not None:
        show_curves(curve_plot, result)
    return layers


def show_curves(plot, result: PipelineResult) -> None:
    """Channel 0 of every curve output: model curves as lines, measured ones as points."""
    declared = {o.name: o for o in result.trained.spec.outputs()}
    for name, curves in result.curves.items():
        if not curves:
            continue
        if declared[name].style == "measured":
            plot.set_empirical(*curves[0])
        else:
            plot.set_curve(*curves[0], force=True)


def summary_text(result: PipelineResult) -> str:
    """The one-line summaries the method's table outputs give (e.g. the noise fit)."""
    parts = []
    for out in result.trained.spec.outputs():
        if out.kind == "table" and out.summary is not None and out.name in result.tables:
            parts.append(out.summary(result.tables[out.name]))
    return " ".join(parts)


def show_warnings(result: PipelineResult, label=None) -> None:
    """Each warning of ``result`` as a napari warning, and appended to ``label``."""
    from napari.utils.notifications import show_warning

    for warning in result.warnings:
        show_warning(f"Denoising result: {warning}")
        if label is not None:
            text = label.text()
            label.setText(f"{text} <b>Warning:</b> {warning}".strip())
