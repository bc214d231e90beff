"""The ELBO, the KL and the importance-weighted bound against torch.distributions."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from vae_tutorial.models import VAE
from vae_tutorial.objectives import elbo, iwae_bound, kl_to_standard_normal

# Statistical checks allow this many Monte-Carlo standard errors.
K_SE = 5


def test_kl_to_standard_normal_matches_torch():
    mu, log_sigma = torch.randn(50, 7, dtype=torch.float64), torch.randn(50, 7, dtype=torch.float64)
    q = Independent(Normal(mu, log_sigma.exp()), 1)
    p = Independent(Normal(torch.zeros(7, dtype=torch.float64), 1.0), 1)
    ours = kl_to_standard_normal(mu, log_sigma)
    assert ours.shape == (50,)
    assert torch.allclose(ours, kl_divergence(q, p), rtol=1e-12, atol=1e-12)
    assert torch.equal(kl_to_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4)), torch.zeros(3))


def test_analytic_kl_matches_monte_carlo_within_standard_errors():
    mu, log_sigma = (
        torch.randn(4, 6, dtype=torch.float64),
        0.5 * torch.randn(4, 6, dtype=torch.float64),
    )
    q = Independent(Normal(mu, log_sigma.exp()), 1)
    p = Independent(Normal(torch.zeros(6, dtype=torch.float64), 1.0), 1)
    z = q.sample((20000,))
    draws = q.log_prob(z) - p.log_prob(z)
    mc, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert ((mc - kl_to_standard_normal(mu, log_sigma)).abs() < K_SE * se).all()


def test_analytic_and_mc_elbo_agree_on_average():
    torch.manual_seed(1)
    model = VAE(latent_dim=4, hidden_dim=32)
    x = torch.bernoulli(torch.rand(3, 784))
    draws = 4000
    with torch.no_grad():
        # one call scores every repeat: row r * 3 + i is image i
        analytic = elbo(model, x.repeat(draws, 1)).reshape(draws, 3)
        mc = elbo(model, x.repeat(draws, 1), kl="mc").reshape(draws, 3)
    diff = analytic.mean(0) - mc.mean(0)
    se = torch.sqrt(analytic.var(0) / draws + mc.var(0) / draws)
    assert (diff.abs() < K_SE * se).all()


def test_elbo_parts_read_like_the_page():
    torch.manual_seed(2)
    model = VAE(latent_dim=3, hidden_dim=16)
    x = torch.bernoulli(torch.rand(5, 784))
    torch.manual_seed(3)
    ours = elbo(model, x, beta=0.5)
    torch.manual_seed(3)
    q = model.encode(x)
    z = q.rsample()
    expected = model.decode(z).log_prob(x) - 0.5 * kl_divergence(q, model.prior())
    assert torch.allclose(ours, expected)
    # and the Bernoulli log-likelihood is minus the summed binary cross-entropy
    logits = model.decoder(z)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    assert torch.allclose(model.decode(z).log_prob(x), -bce.sum(-1), atol=1e-4)


def test_iwae_with_one_sample_is_the_mc_elbo_and_rises_with_k():
    torch.manual_seed(4)
    model = VAE(latent_dim=4, hidden_dim=32)
    x = torch.bernoulli(torch.rand(8, 784))
    with torch.no_grad():
        torch.manual_seed(5)
        k1 = iwae_bound(model, x, 1)
        torch.manual_seed(5)
        q = model.encode(x)
        z = q.sample((1,))
        mc = (model.decode(z).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z))[0]
        assert torch.allclose(k1, mc, atol=1e-4)
        means = [
            torch.stack([iwae_bound(model, x, k) for _ in range(30)]).mean() for k in (1, 10, 100)
        ]
    assert means[0] < means[1] < means[2]


def test_bad_options_are_named():
    model = VAE(latent_dim=2, hidden_dim=8)
    x = torch.zeros(2, 784)
    with pytest.raises(ValueError, match="kl="):
        elbo(model, x, kl="exact")
    with pytest.raises(ValueError, match="k must"):
        iwae_bound(model, x, 0)
