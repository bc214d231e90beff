"""The explicit log-densities and closed-form KL against torch.distributions (independent code)."""

import math

import torch
from torch.distributions import Independent, Normal, kl_divergence

from vae_tutorial.densities import LOG_2PI, kl_to_standard_normal, log_standard_normal

D = torch.float64


def test_log_2pi():
    assert LOG_2PI == math.log(2 * math.pi)


def test_log_standard_normal_matches_torch():
    z = torch.randn(7, 3, 5, generator=torch.Generator().manual_seed(0), dtype=D)
    oracle = Independent(Normal(torch.zeros(5, dtype=D), 1.0), 1).log_prob(z)
    assert log_standard_normal(z).shape == (7, 3)
    assert torch.allclose(log_standard_normal(z), oracle, atol=1e-12)


def test_kl_to_standard_normal_matches_torch():
    generator = torch.Generator().manual_seed(1)
    mu = torch.randn(4, 6, generator=generator, dtype=D)
    log_sigma = 0.5 * torch.randn(4, 6, generator=generator, dtype=D)
    q = Independent(Normal(mu, log_sigma.exp()), 1)
    p = Independent(Normal(torch.zeros(6, dtype=D), 1.0), 1)
    assert torch.allclose(kl_to_standard_normal(mu, log_sigma), kl_divergence(q, p), atol=1e-12)
    assert torch.equal(kl_to_standard_normal(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
