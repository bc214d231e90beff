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

from ._checks import check_positive_int
from .likelihood import combine_log_weight_chunks
from .objectives import _checked, kl_to_standard_normal
from .reparam import log_q_via_change_of_variables


def gaussian_elbo_samples(
    model, x: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor, eps: torch.Tensor
) -> torch.Tensor:
    """One ELBO estimate per noise draw for q = N(mu, diag sigma^2) given per image.

    x: (batch, D); mu, log_sigma: (batch, latent_dim); eps: (samples, batch, latent_dim).
    Returns (samples, batch): log p(x | z = mu + sigma * eps) - KL(q || N(0, I)); the KL is in
    closed form, so only the reconstruction term is random.
    """
    z = mu + log_sigma.exp() * eps
    return model.decode(z).log_prob(x) - kl_to_standard_normal(mu, log_sigma)


class EstimateWithError(NamedTuple):
    """Per-example values (batch,) and their Monte-Carlo standard errors (batch,)."""

    value: torch.Tensor
    stderr: torch.Tensor


@torch.no_grad()
def gaussian_elbo(
    model,
    x: torch.Tensor,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    num_samples: int = 1000,
    seed: int = 0,
    chunk: int = 250,
) -> EstimateWithError:
    """The ELBO of q = N(mu, diag sigma^2) per image, averaged over ``num_samples`` draws.

    x: (batch, D); mu, log_sigma: (batch, latent_dim) -> value, stderr: (batch,).
    The same seed gives the same noise for any (mu, log_sigma), so two posteriors compared with
    one seed share their random numbers and their difference is estimated with less noise.
    """
    check_positive_int("num_samples", num_samples)
    check_positive_int("chunk", chunk)
    x = _checked(model, x)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(len(x), dtype=mu.dtype)
    total_sq = torch.zeros(len(x), dtype=mu.dtype)
    for start in range(0, num_samples, chunk):
        n = min(chunk, num_samples - start)
        eps = torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype)
        values = gaussian_elbo_samples(model, x, mu, log_sigma, eps.to(mu.device)).cpu()
        total += values.sum(0)
        total_sq += values.pow(2).sum(0)
    mean = total / num_samples
    variance = (
        (total_sq / num_samples - mean.pow(2)).clamp(min=0) * num_samples / max(num_samples - 1, 1)
    )
    return EstimateWithError(mean, (variance / num_samples).sqrt())


class OptimisedPosterior(NamedTuple):
    """Per-image Gaussian parameters found by gradient ascent, and the ELBO estimate per step.

    mu, log_sigma: (batch, latent_dim); trace: (steps,) mean over images of the noisy ELBO.
    """

    mu: torch.Tensor
    log_sigma: torch.Tensor
    trace: torch.Tensor


def optimise_gaussian_posterior(
    model,
    x: torch.Tensor,
    steps: int = 300,
    num_samples: int = 16,
    lr: float = 0.05,
    seed: int = 0,
    init: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> OptimisedPosterior:
    """Fit mu and log sigma of a diagonal Gaussian q for every image by Adam on its ELBO.

    x: (batch, D). Each step draws ``num_samples`` fresh eps per image (reparameterized, so the
    gradient is unbiased); the learning rate falls linearly to zero so the end point settles.
    init: starting (mu, log_sigma), each (batch, latent_dim); default: the mean and log
        standard deviation of the model's own q(z|x) = ``model.encode(x)``.
    Images are fitted together, but each image's ELBO depends only on its own parameters, so
    this is the same as fitting them one by one. Model weights are not changed.
    """
    check_positive_int("steps", steps)
    check_positive_int("num_samples", num_samples)
    x = _checked(model, x)
    if init is None:
        with torch.no_grad():
            q = model.encode(x)
            init = (q.mean, q.stddev.log())
    mu = init[0].detach().clone().requires_grad_(True)
    log_sigma = init[1].detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([mu, log_sigma], lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    generator = torch.Generator().manual_seed(seed)
    trace = torch.empty(steps)
    parameters = list(model.parameters())
    saved = [p.requires_grad for p in parameters]
    try:
        for p in parameters:  # gradients for mu and log sigma only
            p.requires_grad_(False)
        for step in range(steps):
            eps = torch.randn((num_samples, *mu.shape), generator=generator, dtype=mu.dtype)
            values = gaussian_elbo_samples(model, x, mu, log_sigma, eps.to(mu.device))
            # Sum over images (each has its own parameters), mean over noise draws.
            loss = -values.mean(0).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            trace[step] = -loss.detach() / len(x)
    finally:
        for p, flag in zip(parameters, saved, strict=True):
            p.requires_grad_(flag)
    return OptimisedPosterior(mu.detach(), log_sigma.detach(), trace)


@torch.no_grad()
def log_marginal_with_proposal(
    model,
    x: torch.Tensor,
    mu: torch.Tensor,
    log_sigma: torch.Tensor,
    num_samples: int = 1000,
    seed: int = 0,
    chunk: int = 250,
) -> EstimateWithError:
    """Importance-sampled log p(x) with the proposal q = N(mu, diag sigma^2) given per image.

    x: (batch, D); mu, log_sigma: (batch, latent_dim) -> value, stderr: (batch,) in nats.
    log p(x) ~= logsumexp_l [log p(x, z_l) - log q(z_l)] - log L, z_l ~ q; the standard error is
    the delta-method one, sqrt((mean(w^2) / mean(w)^2 - 1) / L).
    """
    check_positive_int("num_samples", num_samples)
    check_positive_int("chunk", chunk)
    x = _checked(model, x)
    generator = torch.Generator().manual_seed(seed)
    sigma = log_sigma.exp()
    prior = model.prior()
    lse_w, lse_w2 = [], []
    for start in range(0, num_samples, chunk):
        n = min(chunk, num_samples - start)
        eps = torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype).to(mu.device)
        z = mu + sigma * eps
        log_q = log_q_via_change_of_variables(eps, log_sigma)
        log_w = model.decode(z).log_prob(x) + prior.log_prob(z) - log_q
        lse_w.append(torch.logsumexp(log_w, 0))
        lse_w2.append(torch.logsumexp(2 * log_w, 0))
    return EstimateWithError(*combine_log_weight_chunks(lse_w, lse_w2, num_samples))


def mean_with_stderr(values: torch.Tensor) -> tuple[float, float]:
    """Mean over images and its standard error std / sqrt(n): (n,) -> (mean, stderr)."""
    values = values.double()
    if len(values) < 2:
        raise ValueError("values needs at least two images to estimate a standard error.")
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))
