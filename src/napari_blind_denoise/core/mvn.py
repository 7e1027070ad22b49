"""Per-pixel multivariate Gaussians over a few channels: bsn's prior for ``C > 1``.

Images are ``(B, C, Y, X)``; covariances ``(B, Y, X, C, C)``, one ``C x C`` matrix per pixel
(``C`` is small: 2-4), factorised by :func:`torch.linalg.cholesky_ex` in batches over the
pixels. The noise covariance is diagonal (independent noise per channel), given as its
``(B, C, Y, X)`` variances.
"""

from __future__ import annotations

import math

import torch

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, Y, X)`` as ``(B, Y, X, C)``."""
    return x.permute(0, 2, 3, 1)


def channels_first(x: torch.Tensor) -> torch.Tensor:
    """``(B, Y, X, C)`` as ``(B, C, Y, X)``."""
    return x.permute(0, 3, 1, 2)


def covariance(scale_tril: torch.Tensor) -> torch.Tensor:
    """``L L^T`` of lower-triangular factors ``(..., C, C)``."""
    return scale_tril @ scale_tril.mT


def add_diagonal(cov: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """``cov`` ``(B, Y, X, C, C)`` plus the diagonal matrices of ``variance``
    ``(B, C, Y, X)``."""
    return cov + torch.diag_embed(channels_last(variance))


def cholesky(cov: torch.Tensor) -> torch.Tensor:
    """Lower Cholesky factors of ``cov`` ``(..., C, C)``; ``FloatingPointError`` when one is
    not positive definite in the working precision (a diverged prior)."""
    chol, info = torch.linalg.cholesky_ex(cov)
    if bool((info != 0).any()):
        raise FloatingPointError("bsn: a prior + noise covariance between channels is not "
                                 "positive definite (training diverged?); try a lower "
                                 "learning rate")
    return chol


def mvn_nll(y: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> torch.Tensor:
    """Per pixel ``(B, Y, X)``: the negative log-density of ``y`` under
    ``N(mean, cov)``; ``y``, ``mean`` ``(B, C, Y, X)``, ``cov`` ``(B, Y, X, C, C)``.

    ``0.5 |L^-1 (y - mean)|^2 + sum(log diag L) + C log(2 pi) / 2`` with ``cov = L L^T``.
    """
    chol = cholesky(cov)
    diff = channels_last(y - mean).unsqueeze(-1)
    z = torch.linalg.solve_triangular(chol, diff, upper=False).squeeze(-1)
    half_log_det = chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    return 0.5 * z.square().sum(-1) + half_log_det + y.shape[1] * HALF_LOG_2PI


def gaussian_posterior(mean: torch.Tensor, cov_x: torch.Tensor, var_n: torch.Tensor,
                       y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior of the clean ``x`` given ``y = x + n``, ``x ~ N(mean, cov_x)``,
    ``n ~ N(0, diag(var_n))``: its mean and the square root of its covariance's diagonal,
    each ``(B, C, Y, X)``.

    With ``S = cov_x + diag(var_n)`` and the gain ``K = cov_x S^-1``: the mean
    ``mean + K (y - mean)`` (``= var_n S^-1 mean + cov_x S^-1 y``), the covariance
    ``K diag(var_n)`` (``= cov_x - K cov_x``, both ``(cov_x^-1 + diag(var_n)^-1)^-1``). One
    channel: ``(var_n mean + var_x y) / (var_x + var_n)`` and ``var_x var_n / (var_x +
    var_n)``.
    """
    chol = cholesky(add_diagonal(cov_x, var_n))
    gain = torch.cholesky_solve(cov_x, chol).mT  # (S^-1 cov_x)^T = cov_x S^-1
    diff = channels_last(y - mean).unsqueeze(-1)
    post_mean = mean + channels_first((gain @ diff).squeeze(-1))
    post_var = gain.diagonal(dim1=-2, dim2=-1) * channels_last(var_n)  # diag(K diag(var_n))
    return post_mean, channels_first(post_var.clamp_min(0.0).sqrt())


__all__ = ["add_diagonal", "cholesky", "covariance", "gaussian_posterior", "mvn_nll"]
