"""Small immutable progress events: the only objects long-running work hands back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True, slots=True, eq=False)
class Preview:
    """A live look at the model during training: the method's preview inference of a small
    crop of the training image (:mod:`napari_blind_denoise.core.preview`).

    Attributes
    ----------
    image
        ``(C, h, w)`` float32 in the input's intensity units (read-only).
    plane
        Index over the image's plane axes (T, Z...) of the plane it was cut from; ``()``
        for a 2-D image.
    top, left
        Its corner in that plane (pixels).
    step
        The training step it shows.
    """

    image: np.ndarray
    plane: tuple[int, ...]
    top: int
    left: int
    step: int


@dataclass(frozen=True, slots=True)
class TrainEvent:
    """One optimisation step.

    Attributes
    ----------
    step, n_steps
        Steps done and the step budget.
    loss
        Training loss of this step, normalised units: the masked-pixel mean squared error,
        or for ``nnet`` the masked-pixel negative log-likelihood (can be negative).
    val_loss
        Latest validation loss on the fixed held-out masked patches (``None`` before the first).
    best_val_loss
        Lowest validation loss so far.
    lr
        Learning rate used for this step.
    elapsed
        Seconds since training started.
    time_budget
        Wall-clock budget in seconds, or ``None``.
    patches_per_s
        Training throughput so far.
    noise_curve
        Methods with a learned noise model: ``(signal, std)``, the predicted noise standard
        deviation at a grid of signal values, both in input intensity units; refreshed every
        ``val_every`` steps (``None`` otherwise and for methods without a noise model).
    mse
        Masked-pixel mean squared error of this step (equals ``loss`` for ``n2v``/``n2s``).
    val_mse
        Latest validation masked MSE (equals ``val_loss`` for ``n2v``/``n2s``).
    best_val_mse
        Lowest validation masked MSE so far: the kept model is the newest one within
        ``TrainConfig.select_tolerance`` of it, for every method.
    notice
        On the first step only: what the method chose from the data, for the user (e.g.
        "noise correlated over 2 px along X: using a 3×7 blind spot"), or ``None``.
    preview
        Every so often when the session was asked for live previews
        (:class:`~napari_blind_denoise.core.preview.PreviewOptions`): the current model's
        :class:`Preview`; ``None`` otherwise.
    """

    step: int
    n_steps: int
    loss: float
    val_loss: float | None
    best_val_loss: float | None
    lr: float
    elapsed: float
    time_budget: float | None
    patches_per_s: float
    noise_curve: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    mse: float | None = None
    val_mse: float | None = None
    best_val_mse: float | None = None
    notice: str | None = None
    preview: Preview | None = field(default=None, compare=False)

    @property
    def progress(self) -> float:
        """Fraction of the budget used, in ``[0, 1]``."""
        p = self.step / self.n_steps
        if self.time_budget:
            p = max(p, self.elapsed / self.time_budget)
        return min(1.0, p)


@dataclass(frozen=True, slots=True)
class PredictEvent:
    """One predicted tile; ``memory``: the tiling chosen within the memory budget
    (:class:`~napari_blind_denoise.core.memory.MemoryPlan`)."""

    tile: int
    n_tiles: int
    elapsed: float
    memory: Any = None

    @property
    def progress(self) -> float:
        """Fraction of tiles done."""
        return self.tile / max(1, self.n_tiles)


@dataclass(frozen=True, slots=True)
class Phase:
    """The pipeline moved to a new phase: ``"predict"`` or ``"output"`` (an extra output,
    ``label`` says which)."""

    name: str
    label: str = ""
