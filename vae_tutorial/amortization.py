"""The amortization gap: the encoder's q_phi(z|x) against a Gaussian q optimised for each image.

An encoder answers for every image at once (amortized inference). For one image x we can instead
optimise the mean and log standard deviation of a diagonal Gaussian q(z) directly on the ELBO.
With log p(x) estimated by importance sampling, the distance from log p(x) down to the encoder's
ELBO splits in two (Cremer, Li & Duvenaud, 2018):

    log p(x) - L[q_phi]  =  (log p(x) - L[q*])   +   (L[q*] - L[q_phi])
                            approximation gap        amortization gap

where q* is the best diagonal Gaussian for that image. The optimisation below only approaches q*,
so the measured amortization gap is a lower bound on the true one (and the approximation gap an
upper bound).

Everything works for any model with ``encode``, ``decode`` and a standard normal prior: the VAE
and the exact linear-Gaussian model alike.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from ._checks import model_input
from .flows import FlowPosterior, fit_posterior
from .likelihood import EstimateWithError, log_marginal_likelihood, posterior_elbo


def gaussian_elbo(model, x, mu, log_sigma, num_samples=1000, seed=0, chunk=250):
    """The ELBO of q = N(mu, diag sigma^2) per image (closed-form KL), with its standard error.

    x: (batch, D); mu, log_sigma: (batch, latent_dim) -> value, stderr: (batch,).
    The same seed gives the same noise for any (mu, log_sigma), so two posteriors compared with
    one seed share their random numbers and their difference is estimated with less noise.
    """
    q = FlowPosterior(mu, log_sigma, learn_base=False)
    return posterior_elbo(model, x, q, num_samples, seed, batch_size=chunk, kl="analytic")


class OptimisedPosterior(NamedTuple):
    """Per-image Gaussian parameters found by gradient ascent, and the ELBO estimate per step.

    mu, log_sigma: (batch, latent_dim); trace: (steps,) mean over images of the noisy ELBO.
    """

    mu: torch.Tensor
    log_sigma: torch.Tensor
    trace: torch.Tensor


def optimise_gaussian_posterior(
    model, x, steps=300, num_samples=16, lr=0.05, seed=0, init=None
) -> OptimisedPosterior:
    """Fit mu and log sigma of a diagonal Gaussian q for every image by Adam on its ELBO.

    x: (batch, D); init: starting (mu, log_sigma), each (batch, latent_dim); default: those of
    the model's own q(z|x) = ``model.encode(x)``. The loop is ``flows.fit_posterior`` with no
    flows and the closed-form KL. Model weights are not changed.
    """
    x = model_input(model, x)
    if init is None:
        with torch.no_grad():
            q = model.encode(x)
            init = (q.mean, q.stddev.log())
    posterior = FlowPosterior(*init)
    trace = fit_posterior(model, x, posterior, steps, num_samples, lr, seed, kl="analytic")
    mu, log_sigma = posterior.mu.detach(), posterior.log_sigma.detach()
    return OptimisedPosterior(mu, log_sigma, torch.tensor(trace))


def log_marginal_with_proposal(model, x, mu, log_sigma, num_samples=1000, seed=0, chunk=250):
    """Importance-sampled log p(x) with the proposal q = N(mu, diag sigma^2) given per image:
    ``likelihood.log_marginal_likelihood(..., proposal=q)``. -> value, stderr: (batch,)."""
    q = FlowPosterior(mu, log_sigma, learn_base=False)
    estimate = log_marginal_likelihood(model, x, num_samples, chunk, seed=seed, proposal=q)
    return EstimateWithError(*estimate)


def mean_with_stderr(values: torch.Tensor) -> tuple[float, float]:
    """Mean over images and its standard error std / sqrt(n): (n,) -> (mean, stderr)."""
    values = values.double()
    if len(values) < 2:
        raise ValueError("values needs at least two images to estimate a standard error.")
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))
