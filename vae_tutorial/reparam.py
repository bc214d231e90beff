"""The reparameterization trick as the article writes it, and the gradient estimators it beats.

z = g(eps, phi, x) = mu + sigma * eps with eps ~ N(0, I); the Jacobian of eps -> z is diag(sigma),
so log d_phi(x, eps) = sum_i log sigma_i and log q_phi(z|x) = log p(eps) - log d_phi(x, eps).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._checks import check_positive_int
from .densities import LOG_2PI, log_standard_normal  # noqa: F401 (public here for the lessons)


def reparameterize(mu: torch.Tensor, log_sigma: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps; all (..., latent_dim). Differentiable in mu and log_sigma."""
    return mu + log_sigma.exp() * eps


def log_det_jacobian(log_sigma: torch.Tensor) -> torch.Tensor:
    """log d_phi(x, eps) = log |det dz/deps| = sum_i log sigma_i: (..., D) -> (...)."""
    return log_sigma.sum(-1)


def log_q_via_change_of_variables(eps: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """log q_phi(z|x) = sum_i [log N(eps_i; 0, 1) - log sigma_i] for z = mu + sigma * eps."""
    return log_standard_normal(eps) - log_det_jacobian(log_sigma)


# --- gradient estimators for E_{z ~ N(mu, sigma^2)}[f(z)] with respect to (mu, log_sigma) ---
# f maps (num_samples, D) -> (num_samples,). Each returns (grad_mu, grad_log_sigma), each (D,).


def _draw(mu, num_samples, generator):
    check_positive_int("num_samples", num_samples)
    return torch.randn(num_samples, *mu.shape, generator=generator, dtype=mu.dtype)


def score_function_gradient(
    f: Callable,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    num_samples: int = 1,
    baseline: bool = False,
    generator: torch.Generator | None = None,
):
    """REINFORCE: mean of f(z) * d/dphi log q(z), z ~ q (no gradient flows through z).

    baseline=True subtracts, for each sample, the mean of f over the *other* samples
    (leave-one-out), which keeps the estimator unbiased and needs num_samples >= 2.
    """
    if baseline and num_samples < 2:
        raise ValueError("baseline=True needs num_samples >= 2 (a leave-one-out mean).")
    eps = _draw(mu, num_samples, generator)
    sigma = log_sigma.exp()
    z = (mu + sigma * eps).detach()
    values = f(z)
    if baseline:
        values = values - (values.sum() - values) / (num_samples - 1)
    # d/dmu log N(z; mu, sigma) = eps / sigma; d/dlog_sigma = eps^2 - 1.
    grad_mu = (values[:, None] * eps / sigma).mean(0)
    grad_log_sigma = (values[:, None] * (eps.pow(2) - 1)).mean(0)
    return grad_mu, grad_log_sigma


def pathwise_gradient(
    f: Callable,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
):
    """The reparameterization gradient: autograd through z = mu + sigma * eps."""
    eps = _draw(mu, num_samples, generator)
    mu = mu.detach().requires_grad_(True)
    log_sigma = log_sigma.detach().requires_grad_(True)
    z = reparameterize(mu, log_sigma, eps)
    grad_mu, grad_log_sigma = torch.autograd.grad(f(z).mean(), (mu, log_sigma))
    return grad_mu, grad_log_sigma


def gradient_samples(
    estimator: Callable,
    f: Callable,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    num_samples: int,
    repeats: int,
    seed: int = 0,
    **kwargs,
) -> torch.Tensor:
    """``repeats`` independent estimates, concatenated as (repeats, 2 * D): [grad_mu, grad_ls]."""
    generator = torch.Generator().manual_seed(seed)
    rows = [
        torch.cat(estimator(f, mu, log_sigma, num_samples, generator=generator, **kwargs))
        for _ in range(repeats)
    ]
    return torch.stack(rows)
