"""A linear-Gaussian latent-variable model (probabilistic PCA) where everything is exact.

p(z) = N(0, I_k), p_theta(x|z) = N(W z + b, sigma^2 I_d). Its marginal log p(x), its posterior
p(z|x) and the ELBO of any Gaussian q(z|x) all have closed forms (Tipping & Bishop, 1999), so
the article's identities can be checked to numerical precision. It offers the same
``encode`` / ``decode`` / ``prior`` interface as ``VAE``, so ``objectives.elbo`` and
``likelihood.log_marginal_likelihood`` run on it unchanged. Everything is float64.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence, register_kl

from ._checks import check_data, check_positive_int, to_numpy
from .densities import LOG_2PI

DTYPE = torch.float64


@register_kl(Independent, MultivariateNormal)
def _kl_diagonal_normal_full(q: Independent, p: MultivariateNormal):
    # torch has no rule for a diagonal Normal against a full-covariance one; write q as the latter.
    if not isinstance(q.base_dist, Normal) or q.reinterpreted_batch_ndims != 1:
        raise NotImplementedError
    return kl_divergence(as_full_covariance(q), p)


def as_full_covariance(q) -> MultivariateNormal:
    """A Gaussian q (diagonal ``Independent(Normal)`` or full ``MultivariateNormal``) as an MVN."""
    if isinstance(q, MultivariateNormal):
        return q
    if isinstance(q, Independent) and isinstance(q.base_dist, Normal):
        scale = q.base_dist.scale
        return MultivariateNormal(q.base_dist.loc, scale_tril=torch.diag_embed(scale))
    raise ValueError(f"q must be a Gaussian distribution, got {type(q).__name__}.")


class LinearEncoder(nn.Module):
    """An amortized Gaussian q_phi(z|x) = N(A x + c, diag sigma^2) with a learned log sigma."""

    def __init__(self, input_dim: int, latent_dim: int, seed: int = 0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(
            0.01 * torch.randn(latent_dim, input_dim, generator=generator, dtype=DTYPE)
        )
        self.bias = nn.Parameter(torch.zeros(latent_dim, dtype=DTYPE))
        self.log_sigma = nn.Parameter(torch.zeros(latent_dim, dtype=DTYPE))

    def forward(self, x: torch.Tensor) -> Independent:
        mu = x @ self.weight.T + self.bias
        return Independent(Normal(mu, self.log_sigma.exp().expand_as(mu)), 1)


class LinearGaussian(nn.Module):
    """p(z) = N(0, I), p(x|z) = N(W z + b, sigma^2 I). W: (input_dim, latent_dim).

    encoder: a module mapping x to a Gaussian q(z|x); ``None`` (default) uses the exact posterior.
    """

    likelihood = "gaussian"

    def __init__(
        self, input_dim: int, latent_dim: int, seed: int = 0, encoder: nn.Module | None = None
    ):
        super().__init__()
        check_positive_int("input_dim", input_dim)
        check_positive_int("latent_dim", latent_dim)
        generator = torch.Generator().manual_seed(seed)
        self.input_dim = input_dim
        self.latent_dim = latent_dim
        self.weight = nn.Parameter(
            0.1 * torch.randn(input_dim, latent_dim, generator=generator, dtype=DTYPE)
        )
        self.bias = nn.Parameter(torch.zeros(input_dim, dtype=DTYPE))
        self.log_sigma = nn.Parameter(torch.zeros((), dtype=DTYPE))
        self.encoder = encoder

    @property
    def device(self) -> torch.device:
        return self.weight.device

    @property
    def sigma2(self) -> torch.Tensor:
        return (2 * self.log_sigma).exp()

    def check_input(self, x: torch.Tensor, name: str = "x", allow_grey: bool = True):
        """x: (batch, input_dim) finite real values; returned as float64."""
        check_data(x, name, dim=self.input_dim, unit_interval=False)
        return x.to(DTYPE)

    # --- the generative model ---
    def prior(self) -> MultivariateNormal:
        zeros = torch.zeros(self.latent_dim, dtype=DTYPE, device=self.device)
        return MultivariateNormal(
            zeros, scale_tril=torch.eye(self.latent_dim, dtype=DTYPE, device=self.device)
        )

    def decode(self, z: torch.Tensor) -> Independent:
        """p(x|z) for z: (..., latent_dim), event shape (input_dim,)."""
        mean = z.to(DTYPE) @ self.weight.T + self.bias
        return Independent(Normal(mean, self.log_sigma.exp().expand_as(mean)), 1)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        return z.to(DTYPE) @ self.weight.T + self.bias

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W W^T + sigma^2 I), the exact marginal of the data."""
        eye = torch.eye(self.input_dim, dtype=DTYPE, device=self.device)
        return MultivariateNormal(self.bias, self.weight @ self.weight.T + self.sigma2 * eye)

    def log_marginal(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) per example: x (batch, input_dim) -> (batch,)."""
        return self.marginal().log_prob(self.check_input(x))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=DTYPE)
        return self.decode(z.to(self.device)).mean

    # --- inference ---
    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """The exact p(z|x) = N(M^-1 W^T (x - b), sigma^2 M^-1), M = W^T W + sigma^2 I."""
        x = self.check_input(x)
        eye = torch.eye(self.latent_dim, dtype=DTYPE, device=self.device)
        m = self.weight.T @ self.weight + self.sigma2 * eye
        mean = torch.linalg.solve(m, self.weight.T @ (x - self.bias).T).T
        cov = self.sigma2 * torch.linalg.inv(m)
        cov = 0.5 * (cov + cov.T)
        return MultivariateNormal(mean, covariance_matrix=cov.expand(len(x), -1, -1))

    def encode(self, x: torch.Tensor):
        """q(z|x): the encoder's Gaussian if one is set, else the exact posterior."""
        if self.encoder is None:
            return self.posterior(x)
        return self.encoder(self.check_input(x))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.encode(x).mean

    # --- closed forms for any Gaussian q ---
    def expected_log_likelihood(self, x: torch.Tensor, q) -> torch.Tensor:
        """E_q[log p(x|z)] in closed form; q a Gaussian with batch shape (batch,)."""
        x = self.check_input(x)
        q = as_full_covariance(q)
        m, s = q.mean, q.covariance_matrix
        residual = x - self.bias - m @ self.weight.T
        trace = torch.einsum("ij,bjk,ik->b", self.weight, s, self.weight)
        d = self.input_dim
        return -0.5 * (
            d * (LOG_2PI + 2 * self.log_sigma) + (residual.pow(2).sum(-1) + trace) / self.sigma2
        )

    def kl_to_prior(self, q) -> torch.Tensor:
        """KL(q(z|x) || p(z)) in closed form, per example."""
        return kl_divergence(as_full_covariance(q), self.prior())

    def elbo_closed_form(self, x: torch.Tensor, q=None) -> torch.Tensor:
        """L(x) = E_q[log p(x|z)] - KL(q || p(z)), exactly; q defaults to ``encode(x)``."""
        q = self.encode(x) if q is None else q
        return self.expected_log_likelihood(x, q) - self.kl_to_prior(q)

    def kl_to_posterior(self, x: torch.Tensor, q=None):
        """KL(q(z|x) || p(z|x)), exactly: the gap between log p(x) and the ELBO."""
        q = self.encode(x) if q is None else q
        return kl_divergence(as_full_covariance(q), self.posterior(x))


def fit_ppca(x, latent_dim: int, ddof: int = 1) -> LinearGaussian:
    """Fit W, b, sigma^2 by maximum likelihood in closed form (Tipping & Bishop, 1999).

    x: (N, D) data (tensor or array). b is the data mean; with the eigenvalues lambda_1 >= ...
    of the covariance, sigma^2 is the mean of the D - k discarded ones and
    W = U_k (Lambda_k - sigma^2 I)^(1/2). ddof=1 divides the covariance by N - 1 as
    scikit-learn's PCA does (ddof=0 gives the textbook maximum-likelihood estimate).
    """
    x = torch.as_tensor(to_numpy(x), dtype=DTYPE)
    check_data(x, "x", unit_interval=False)
    check_positive_int("latent_dim", latent_dim)
    n, d = x.shape
    if latent_dim >= d:
        raise ValueError(
            f"latent_dim must be smaller than the data dimension {d}, got {latent_dim}."
        )
    mean = x.mean(0)
    centred = x - mean
    cov = centred.T @ centred / (n - ddof)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    eigenvalues, eigenvectors = eigenvalues.flip(0), eigenvectors.flip(1)
    sigma2 = eigenvalues[latent_dim:].mean()
    scale = (eigenvalues[:latent_dim] - sigma2).clamp(min=0).sqrt()
    model = LinearGaussian(d, latent_dim)
    with torch.no_grad():
        model.weight.copy_(eigenvectors[:, :latent_dim] * scale)
        model.bias.copy_(mean)
        model.log_sigma.copy_(0.5 * sigma2.log())
    return model
