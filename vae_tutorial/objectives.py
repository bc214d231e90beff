"""The ELBO and its parts, one value per example, in nats.

Works for any model with ``encode(x)`` -> q(z|x), ``decode(z)`` -> p(x|z) and ``prior()`` -> p(z)
as ``torch.distributions`` objects: the VAE and the exact linear-Gaussian model alike.
"""

from __future__ import annotations

import contextlib
import contextvars
import math

import torch
from torch.distributions import kl_divergence

from ._checks import check_choice, check_positive_int

KL_CHOICES = ("analytic", "mc")

# Set by a trainer that has checked its whole data set once, so the objectives need not re-scan
# every minibatch (on a 128-image batch the checks cost several percent of a training step).
_INPUTS_ALREADY_CHECKED = contextvars.ContextVar("inputs_already_checked", default=False)


@contextlib.contextmanager
def _inputs_already_checked():
    """Within this block, objectives trust their inputs (the caller checked them already)."""
    token = _INPUTS_ALREADY_CHECKED.set(True)
    try:
        yield
    finally:
        _INPUTS_ALREADY_CHECKED.reset(token)


def _checked(model, x):
    if _INPUTS_ALREADY_CHECKED.get():
        return x
    check = getattr(model, "check_input", None)
    return check(x) if check is not None else x


def kl_to_standard_normal(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) in closed form, summed over the last dimension.

    mu, log_sigma: (..., latent_dim) -> (...,).
    KL = 1/2 * sum_i (mu_i^2 + sigma_i^2 - 1 - 2 log sigma_i).
    """
    return 0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1 - 2 * log_sigma).sum(-1)


def elbo(
    model, x: torch.Tensor, kl: str = "analytic", beta: float = 1.0, num_samples: int = 1
) -> torch.Tensor:
    """One-sample (or ``num_samples``-average) estimate of the ELBO L_{theta,phi}(x), per example.

    x: (batch, input_dim) -> (batch,) in nats.
    kl: ``"analytic"`` uses KL(q(z|x) || p(z)) in closed form; ``"mc"`` estimates the whole
        E_q[log p(x, z) - log q(z|x)] from the same samples z.
    beta: weight of the KL term (beta = 1 is the true ELBO).
    """
    check_choice("kl", kl, KL_CHOICES)
    check_positive_int("num_samples", num_samples)
    x = _checked(model, x)
    q = model.encode(x)
    prior = model.prior()
    z = q.rsample((num_samples,)) if num_samples > 1 else q.rsample()
    log_px_given_z = model.decode(z).log_prob(x)
    if kl == "analytic":
        kl_term = kl_divergence(q, prior)
    else:
        kl_term = q.log_prob(z) - prior.log_prob(z)
    per_sample = log_px_given_z - beta * kl_term
    return per_sample.mean(0) if num_samples > 1 else per_sample


def reconstruction_log_likelihood(model, x: torch.Tensor) -> torch.Tensor:
    """log p_theta(x | z = Encoder(x)) for a plain auto-encoder, per example. x: (batch, D)."""
    x = _checked(model, x)
    return model.decode(model.encode(x)).log_prob(x)


def iwae_bound(model, x: torch.Tensor, k: int) -> torch.Tensor:
    """The importance-weighted bound L_k(x) = E[log (1/k) sum_l p(x, z_l) / q(z_l|x)], per example.

    x: (batch, input_dim) -> (batch,). k = 1 is the ELBO; L_k rises towards log p(x) as k grows.
    """
    check_positive_int("k", k)
    x = _checked(model, x)
    q = model.encode(x)
    # rsample keeps the bound differentiable in phi, so it can also be trained on (IWAE)
    log_w = _log_weights(model, x, q, q.rsample((k,)))
    return torch.logsumexp(log_w, dim=0) - math.log(k)


def log_importance_weights(model, x: torch.Tensor, num_samples: int) -> torch.Tensor:
    """log p(x, z_l) - log q(z_l|x) for z_l ~ q(z|x); x: (batch, D) -> (num_samples, batch)."""
    q = model.encode(x)
    z = q.sample((num_samples,))
    return _log_weights(model, x, q, z)


def _log_weights(model, x: torch.Tensor, q, z: torch.Tensor) -> torch.Tensor:
    """log p(x|z) + log p(z) - log q(z|x) for given draws z: (samples, batch, latent_dim)."""
    return model.decode(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)


def default_objective(model):
    """What ``fit`` maximises for a model: the ELBO, or the reconstruction term for an AE."""
    from .models import Autoencoder

    return reconstruction_log_likelihood if isinstance(model, Autoencoder) else elbo
