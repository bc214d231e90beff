"""Importance-sampled log p(x) on a VAE: seeded, batched consistently, bounded by the ELBO."""

import math

import pytest
import torch

from vae_tutorial.flows import FlowPosterior
from vae_tutorial.likelihood import log_marginal_likelihood
from vae_tutorial.models import VAE
from vae_tutorial.objectives import elbo, log_importance_weights
from vae_tutorial.training import evaluate


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return VAE(latent_dim=4, hidden_dim=32).eval()


def test_matches_a_plain_logsumexp_over_the_same_draws(model):
    x = torch.bernoulli(torch.rand(5, 784, generator=torch.Generator().manual_seed(1)))
    est = log_marginal_likelihood(model, x, num_samples=300, batch_size=300, seed=7)
    torch.manual_seed(7)
    with torch.no_grad():
        log_w = log_importance_weights(model, x, 300)
    expected = torch.logsumexp(log_w, 0) - math.log(300)
    assert torch.allclose(est.log_px, expected, atol=1e-4)
    w = torch.exp(log_w - log_w.max(0).values)
    expected_se = w.std(0, unbiased=False) / w.mean(0) / math.sqrt(300)
    assert torch.allclose(est.stderr, expected_se, rtol=1e-3)


def test_seeded_and_above_the_elbo(model):
    x = torch.bernoulli(torch.rand(50, 784, generator=torch.Generator().manual_seed(2)))
    a = log_marginal_likelihood(model, x, num_samples=200, batch_size=64, images_per_batch=16)
    b = log_marginal_likelihood(model, x, num_samples=200, batch_size=64, images_per_batch=16)
    assert torch.equal(a.log_px, b.log_px) and a.log_px.shape == (50,)
    with torch.no_grad():
        bound = torch.stack([elbo(model, x) for _ in range(20)]).mean(0)
    # log p(x) >= E[L_L] >= ELBO; on average over 50 images the estimate must sit above
    assert a.log_px.mean() > bound.mean()
    assert (a.stderr > 0).all()


def test_bad_arguments(model):
    x = torch.zeros(2, 784)
    with pytest.raises(ValueError, match="num_samples"):
        log_marginal_likelihood(model, x, num_samples=0)
    with pytest.raises(ValueError, match="Bernoulli"):
        log_marginal_likelihood(model, torch.full((2, 784), 0.3))


def test_the_callers_random_state_is_left_alone(model):
    x = torch.bernoulli(torch.rand(3, 784, generator=torch.Generator().manual_seed(3)))
    torch.manual_seed(11)
    expected_next = torch.rand(3)
    torch.manual_seed(11)
    log_marginal_likelihood(model, x, num_samples=20, seed=0)
    evaluate(model, x, seed=0)
    assert torch.equal(torch.rand(3), expected_next)


def test_a_proposal_that_is_the_encoder_gives_the_same_kind_of_estimate(model):
    # q given per image (a diagonal Gaussian with the encoder's parameters) instead of the encoder
    x = torch.bernoulli(torch.rand(6, 784, generator=torch.Generator().manual_seed(4)))
    with torch.no_grad():
        mu, log_sigma = model.encoder_params(x)
    proposal = FlowPosterior(mu, log_sigma, learn_base=False)
    with_proposal = log_marginal_likelihood(model, x, num_samples=4000, proposal=proposal)
    with_encoder = log_marginal_likelihood(model, x, num_samples=4000, seed=1)
    spread = (with_proposal.stderr.pow(2) + with_encoder.stderr.pow(2)).sqrt()
    assert ((with_proposal.log_px - with_encoder.log_px).abs() < 5 * spread + 1e-3).all()
    again = log_marginal_likelihood(model, x, num_samples=4000, proposal=proposal)
    assert torch.equal(again.log_px, with_proposal.log_px)
