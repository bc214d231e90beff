"""The ELBO and its parts, one value per example, in nats.

Works for any model with ``encode(x)`` -> q(z|x), ``decode(z)`` -> p(x|z) and ``prior()`` -> p(z)
as ``torch.distributions`` objects: the VAE and the exact linear-Gaussian model alike. Every
bound here is an average (or a log-mean-exp) of the same log weight
log p(x, z) - log q(z|x), computed once, in :func:`log_weights`.

validate: the public functions check x first (shape, range, binary pixels) and say clearly what
is wrong; a caller that has checked its whole data set already (``training.fit``) passes
``validate=False`` to skip re-scanning every minibatch.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import kl_divergence

from ._checks import check_choice, check_positive_int, model_input
from .densities import kl_to_standard_normal  # noqa: F401 (public here for the lessons)

KL_CHOICES = ("analytic", "mc")


def log_weights(model, x: torch.Tensor, z: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """log w = log p(x|z) + log p(z) - log q(z), for draws z: (samples, batch, latent_dim) and
    their log q: (samples, batch) -> (samples, batch). x: (batch, D)."""
    return model.decode(z).log_prob(x) + model.prior().log_prob(z) - log_q


def elbo(
    model,
    x: torch.Tensor,
    kl: str = "analytic",
    beta: float = 1.0,
    num_samples: int = 1,
    validate: bool = True,
) -> torch.Tensor:
    """One-sample (or ``num_samples``-average) estimate of the ELBO L_{theta,phi}(x), per example.

    x: (batch, input_dim) -> (batch,) in nats.
    kl: ``"analytic"`` uses KL(q(z|x) || p(z)) in closed form; ``"mc"`` estimates the whole
        E_q[log p(x, z) - log q(z|x)] from the same samples z.
    beta: weight of the KL term (beta = 1 is the true ELBO).
    """
    check_choice("kl", kl, KL_CHOICES)
    check_positive_int("num_samples", num_samples)
    if validate:
        x = model_input(model, x)
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


def posterior_elbo_samples(
    model, x: torch.Tensor, posterior, num_samples: int = 1, generator=None, kl: str = "mc"
) -> torch.Tensor:
    """ELBO values of a given per-image q (not the encoder's), one per draw: (num_samples, batch).

    posterior: has ``rsample_with_log_prob(n, generator)`` -> z (n, batch, latent_dim), log q(z)
        (n, batch), e.g. a ``flows.FlowPosterior`` (a diagonal Gaussian is one with no flows).
    kl: ``"mc"`` averages log p(x, z) - log q(z); ``"analytic"`` uses log p(x|z) - KL(q || p(z))
        from ``posterior.kl_to_prior()`` (a diagonal Gaussian q, p(z) = N(0, I)), so only the
        reconstruction term is random. Differentiable in the posterior's parameters.
    """
    check_choice("kl", kl, KL_CHOICES)
    z, log_q = posterior.rsample_with_log_prob(num_samples, generator=generator)
    if z.shape[1:-1] != x.shape[:1]:
        raise ValueError(
            f"posterior has batch shape {tuple(z.shape[1:-1])} but x has {len(x)} examples; "
            "build one posterior entry per image."
        )
    if kl == "analytic":
        return model.decode(z).log_prob(x) - posterior.kl_to_prior()
    return log_weights(model, x, z, log_q)


def reconstruction_log_likelihood(model, x: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """log p_theta(x | z = Encoder(x)) for a plain auto-encoder, per example. x: (batch, D)."""
    if validate:
        x = model_input(model, x)
    return model.decode(model.encode(x)).log_prob(x)


def iwae_bound(model, x: torch.Tensor, k: int, validate: bool = True) -> torch.Tensor:
    """The importance-weighted bound L_k(x) = E[log (1/k) sum_l p(x, z_l) / q(z_l|x)], per example.

    x: (batch, input_dim) -> (batch,). k = 1 is the ELBO; L_k rises towards log p(x) as k grows.
    """
    check_positive_int("k", k)
    if validate:
        x = model_input(model, x)
    q = model.encode(x)
    z = q.rsample((k,))  # rsample keeps the bound differentiable in phi (IWAE training)
    return torch.logsumexp(log_weights(model, x, z, q.log_prob(z)), dim=0) - math.log(k)


def log_importance_weights(model, x: torch.Tensor, num_samples: int) -> torch.Tensor:
    """log p(x, z_l) - log q(z_l|x) for z_l ~ q(z|x); x: (batch, D) -> (num_samples, batch)."""
    check_positive_int("num_samples", num_samples)
    x = model_input(model, x)
    q = model.encode(x)
    z = q.sample((num_samples,))
    return log_weights(model, x, z, q.log_prob(z))


def default_objective(model):
    """What ``fit`` maximises for a model: the ELBO, or the reconstruction term for an AE."""
    from .models import Autoencoder

    return reconstruction_log_likelihood if isinstance(model, Autoencoder) else elbo
