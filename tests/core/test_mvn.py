"""Per-pixel multivariate Gaussians (bsn's prior over channels): the Cholesky NLL against
torch.distributions, the posterior against the product of Gaussians in precision form, and
one channel against the scalar formulas."""

from __future__ import annotations

import pytest
import torch

from napari_blind_denoise.core.mvn import (
    add_diagonal,
    cholesky,
    covariance,
    gaussian_posterior,
    mvn_nll,
)

B, Y, X = 2, 3, 5


def _random(c: int, seed: int, dtype=torch.float64):
    """Random means, a positive definite prior covariance (through a lower-triangular factor
    with a positive diagonal), positive noise variances and noisy values."""
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(B, c, Y, X, generator=g, dtype=dtype)
    tril = torch.randn(B, Y, X, c, c, generator=g, dtype=dtype).tril()
    diag = torch.rand(B, Y, X, c, generator=g, dtype=dtype) + 0.1
    tril = tril - torch.diag_embed(tril.diagonal(dim1=-2, dim2=-1)) + torch.diag_embed(diag)
    var_n = torch.rand(B, c, Y, X, generator=g, dtype=dtype) + 0.05
    y = mean + torch.randn(B, c, Y, X, generator=g, dtype=dtype) * 2
    return mean, covariance(tril), var_n, y


@pytest.mark.parametrize("c", [1, 2, 4])
def test_nll_is_the_multivariate_normal(c: int) -> None:
    mean, cov_x, var_n, y = _random(c, seed=c)
    total = add_diagonal(cov_x, var_n)
    ref = -torch.distributions.MultivariateNormal(mean.permute(0, 2, 3, 1),
                                                  covariance_matrix=total
                                                  ).log_prob(y.permute(0, 2, 3, 1))
    torch.testing.assert_close(mvn_nll(y, mean, total), ref)
    # float32, as in training
    torch.testing.assert_close(mvn_nll(y.float(), mean.float(), total.float()), ref.float(),
                               rtol=1e-4, atol=1e-4)
    if c == 1:
        normal = -torch.distributions.Normal(mean, total[..., 0, 0][:, None].sqrt()).log_prob(y)
        torch.testing.assert_close(mvn_nll(y, mean, total), normal[:, 0])


@pytest.mark.parametrize("c", [1, 2, 3])
def test_posterior_is_the_gaussian_product(c: int) -> None:
    """``N(mean, cov_x) x N(y, diag(var_n))``: precision ``cov_x^-1 + diag(var_n)^-1``,
    mean ``cov_post (cov_x^-1 mean + diag(var_n)^-1 y)``."""
    mean, cov_x, var_n, y = _random(c, seed=10 + c)
    post_mean, post_std = gaussian_posterior(mean, cov_x, var_n, y)
    inv = torch.linalg.inv
    prec_n = torch.diag_embed(1 / var_n.permute(0, 2, 3, 1))
    cov_post = inv(inv(cov_x) + prec_n)
    expected = cov_post @ (inv(cov_x) @ mean.permute(0, 2, 3, 1)[..., None]
                           + prec_n @ y.permute(0, 2, 3, 1)[..., None])
    torch.testing.assert_close(post_mean, expected[..., 0].permute(0, 3, 1, 2))
    std = cov_post.diagonal(dim1=-2, dim2=-1).sqrt().permute(0, 3, 1, 2)
    torch.testing.assert_close(post_std, std)
    assert (post_std ** 2 < var_n).all()  # the posterior is narrower than the noise
    if c == 1:  # the one-channel formula bsn has always used
        var_x = cov_x[..., 0, 0][:, None]
        torch.testing.assert_close(post_mean, (var_n * mean + var_x * y) / (var_x + var_n))
        torch.testing.assert_close(post_std, (var_x * var_n / (var_x + var_n)).sqrt())


def test_cholesky_refuses_a_matrix_that_is_not_positive_definite() -> None:
    bad = torch.tensor([[1.0, 2.0], [2.0, 1.0]]).expand(1, 2, 2, 2, 2)
    with pytest.raises(FloatingPointError, match="not positive definite"):
        cholesky(bad)
    torch.testing.assert_close(covariance(cholesky(bad + 3 * torch.eye(2))), bad + 3 * torch.eye(2))
