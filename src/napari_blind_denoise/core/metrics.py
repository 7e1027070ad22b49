"""Image-quality metrics against a reference: PSNR and SSIM, raw and scale-fitted."""

from __future__ import annotations

import numpy as np


def fit_affine(pred: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Least-squares ``a * pred + b`` closest to ``reference`` (for data whose scales differ)."""
    p = np.asarray(pred, np.float64).ravel()
    r = np.asarray(reference, np.float64).ravel()
    pm, rm = p.mean(), r.mean()
    var = ((p - pm) ** 2).sum()
    a = ((p - pm) * (r - rm)).sum() / var if var > 0 else 0.0
    b = rm - a * pm
    return (a * np.asarray(pred, np.float64) + b).astype(np.float64)


def _range(reference: np.ndarray) -> float:
    r = float(np.max(reference) - np.min(reference))
    return r if r > 0 else 1.0


def psnr(pred: np.ndarray, reference: np.ndarray, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; the peak is the reference's range unless given."""
    ref = np.asarray(reference, np.float64)
    mse = float(np.mean((np.asarray(pred, np.float64) - ref) ** 2))
    dr = data_range if data_range is not None else _range(ref)
    return float("inf") if mse == 0 else 10.0 * np.log10(dr * dr / mse)


def ssim(pred: np.ndarray, reference: np.ndarray, data_range: float | None = None) -> float:
    """Structural similarity (scikit-image, Gaussian-weighted as in Wang et al. 2004).

    Stacks are scored plane by plane over their last two axes and averaged.
    """
    from skimage.metrics import structural_similarity

    ref = np.asarray(reference, np.float64)
    p = np.asarray(pred, np.float64)
    dr = data_range if data_range is not None else _range(ref)
    planes_p = p.reshape(-1, *p.shape[-2:])
    planes_r = ref.reshape(-1, *ref.shape[-2:])
    vals = [structural_similarity(a, b, data_range=dr, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False)
            for a, b in zip(planes_p, planes_r, strict=True)]
    return float(np.mean(vals))


def score(pred: np.ndarray, reference: np.ndarray,
          data_range: float | None = None) -> dict[str, float]:
    """PSNR/SSIM raw and after least-squares scale-and-offset fitting to the reference.

    ``data_range`` defaults to the reference's range (max - min).
    """
    fitted = fit_affine(pred, reference)
    return {
        "psnr": psnr(pred, reference, data_range),
        "ssim": ssim(pred, reference, data_range),
        "psnr_fit": psnr(fitted, reference, data_range),
        "ssim_fit": ssim(fitted, reference, data_range),
    }
