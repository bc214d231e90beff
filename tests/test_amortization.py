"""Per-image Gaussian posteriors, their ELBO and importance sampling, checked in exact models."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vae_tutorial.amortization import (
    gaussian_elbo,
    log_marginal_with_proposal,
    mean_with_stderr,
    optimise_gaussian_posterior,
)
from vae_tutorial.flows import FlowPosterior
from vae_tutorial.linear_gaussian import fit_ppca
from vae_tutorial.models import VAE
from vae_tutorial.objectives import posterior_elbo_samples

# Statistical checks allow this many Monte-Carlo standard errors.
K_SE = 5


@pytest.fixture(scope="module")
def ppca():
    """A probabilistic PCA model fitted in closed form, and data from it (float64).

    Its W has orthogonal columns, so the exact posterior p(z|x) has a diagonal covariance: a
    diagonal Gaussian q can match it and the ELBO can reach log p(x) exactly.
    """
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=generator, dtype=torch.float64) @ torch.randn(
        6, 6, generator=generator, dtype=torch.float64
    )
    model = fit_ppca(x, latent_dim=2)
    return model, x[:8]


def diagonal(q):
    """mu and log sigma of a Gaussian with a diagonal covariance."""
    return q.mean, q.covariance_matrix.diagonal(dim1=-2, dim2=-1).sqrt().log()


def test_elbo_samples_match_torch_distributions_in_a_vae():
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden_dim=16, input_dim=12)
    x = torch.bernoulli(torch.rand(5, 12))
    mu, log_sigma = torch.randn(5, 3), 0.3 * torch.randn(5, 3)
    eps = torch.randn(4, 5, 3, generator=torch.Generator().manual_seed(1))
    q = Independent(Normal(mu, log_sigma.exp()), 1)
    log_px_z = model.decode(mu + log_sigma.exp() * eps).log_prob(x)
    expected = log_px_z - kl_divergence(q, model.prior())
    expected_mc = log_px_z + model.prior().log_prob(mu + log_sigma.exp() * eps)
    expected_mc = expected_mc - q.log_prob(mu + log_sigma.exp() * eps)
    with torch.no_grad():
        for kl, oracle in (("analytic", expected), ("mc", expected_mc)):
            generator = torch.Generator().manual_seed(1)
            posterior = FlowPosterior(mu, log_sigma)
            ours = posterior_elbo_samples(model, x, posterior, 4, generator, kl=kl)
            assert ours.shape == (4, 5)
            assert torch.allclose(ours, oracle, atol=1e-4)


def test_monte_carlo_elbo_agrees_with_the_closed_form(ppca):
    model, x = ppca
    mu, log_sigma = torch.randn(8, 2, dtype=torch.float64), 0.2 * torch.randn(8, 2).double()
    estimate = gaussian_elbo(model, x, mu, log_sigma, num_samples=4000, seed=1)
    exact = model.elbo_closed_form(x, Independent(Normal(mu, log_sigma.exp()), 1))
    assert ((estimate.value - exact).abs() < K_SE * estimate.stderr).all()
    # The same seed gives the same noise, so a repeat is identical.
    again = gaussian_elbo(model, x, mu, log_sigma, num_samples=4000, seed=1)
    assert torch.equal(estimate.value, again.value)


def test_importance_sampling_with_the_exact_posterior_is_exact(ppca):
    # With q = p(z|x) every weight p(x, z) / q(z) equals p(x): no variance at all.
    model, x = ppca
    mu, log_sigma = diagonal(model.posterior(x))
    estimate = log_marginal_with_proposal(model, x, mu, log_sigma, num_samples=10, seed=3)
    assert torch.allclose(estimate.value, model.log_marginal(x), atol=1e-8)
    assert (estimate.stderr < 1e-6).all()
    # A worse proposal gives a noisier estimate that still agrees within its standard error.
    worse = log_marginal_with_proposal(model, x, mu + 0.3, log_sigma + 0.2, num_samples=20000)
    assert ((worse.value - model.log_marginal(x)).abs() < K_SE * worse.stderr + 1e-3).all()


def test_optimisation_closes_the_gap_to_log_p_x(ppca):
    model, x = ppca
    start = (torch.zeros(8, 2, dtype=torch.float64), torch.zeros(8, 2, dtype=torch.float64))
    before = [p.clone() for p in model.parameters()]
    fitted = optimise_gaussian_posterior(
        model, x, steps=400, num_samples=16, lr=0.05, seed=0, init=start
    )
    q_start = Independent(Normal(start[0], start[1].exp()), 1)
    q_fit = Independent(Normal(fitted.mu, fitted.log_sigma.exp()), 1)
    log_px = model.log_marginal(x)
    gap_start = log_px - model.elbo_closed_form(x, q_start)
    gap_fit = log_px - model.elbo_closed_form(x, q_fit)
    assert (gap_start > 0.5).all(), "the start must be poor for the check to mean anything"
    assert (gap_fit >= -1e-9).all() and (gap_fit < 0.02).all()
    assert fitted.trace.shape == (400,) and fitted.trace[-50:].mean() > fitted.trace[:10].mean()
    for old, new in zip(before, model.parameters(), strict=True):
        assert torch.equal(old, new) and new.requires_grad and new.grad is None


def test_optimisation_starts_from_the_encoder_by_default():
    torch.manual_seed(0)
    model = VAE(latent_dim=3, hidden_dim=16, input_dim=12)
    x = torch.bernoulli(torch.rand(6, 12))
    with torch.no_grad():
        mu, log_sigma = model.encoder_params(x)
    fitted = optimise_gaussian_posterior(model, x, steps=60, num_samples=32, lr=0.05)
    amortized = gaussian_elbo(model, x, mu, log_sigma, num_samples=2000, seed=5)
    optimised = gaussian_elbo(model, x, fitted.mu, fitted.log_sigma, num_samples=2000, seed=5)
    assert optimised.value.mean() > amortized.value.mean()
    assert torch.allclose(fitted.trace[0], amortized.value.mean(), atol=1.0)


def test_mean_with_stderr():
    mean, se = mean_with_stderr(torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert math.isclose(mean, 3.0) and math.isclose(se, math.sqrt(14 / 3) / 2)
    with pytest.raises(ValueError, match="at least two"):
        mean_with_stderr(torch.tensor([1.0]))
