"""Gradient ascent in latent space: the property, the prior penalty and the bookkeeping."""

import math

import pytest
import torch
from torch import nn

from vae_tutorial.latent_optimisation import (
    latent_ascent,
    log_standard_normal_density,
    target_log_odds,
    target_log_prob,
    typical_log_prior_range,
)
from vae_tutorial.models import VAE

# Statistical checks allow this many Monte-Carlo standard errors.
K_SE = 5


def small_model_and_classifier(seed=0):
    torch.manual_seed(seed)
    model = VAE(latent_dim=3, hidden_dim=16, input_dim=12)
    classifier = nn.Linear(12, 4)
    return model, classifier


def test_log_odds_and_log_prob_match_softmax():
    logits = torch.randn(6, 4, dtype=torch.float64)
    target = torch.tensor([0, 1, 2, 3, 0, 1])
    p = torch.softmax(logits, -1)[torch.arange(6), target]
    assert torch.allclose(target_log_prob(logits, target), p.log(), atol=1e-12)
    assert torch.allclose(target_log_odds(logits, target), p.log() - (1 - p).log(), atol=1e-12)
    # Far past p = 1 in float32 the log-odds stay finite and keep growing.
    big = torch.tensor([[100.0, 0.0, 0.0]])
    assert torch.isclose(target_log_odds(big, torch.tensor([0])), torch.tensor([100 - math.log(2)]))


def test_log_prior_matches_torch_distributions():
    z = torch.randn(5, 7, dtype=torch.float64)
    prior = torch.distributions.Independent(
        torch.distributions.Normal(torch.zeros(7, dtype=torch.float64), 1.0), 1
    )
    assert torch.allclose(log_standard_normal_density(z), prior.log_prob(z), atol=1e-12)


def test_with_a_flat_property_the_prior_shrinks_z_geometrically():
    # A classifier with zero weights and bias gives logits 0 everywhere: its gradient is 0, so
    # z_{t+1} = z_t + s * grad log p(z) = (1 - s * w) z_t exactly.
    model, classifier = small_model_and_classifier()
    nn.init.zeros_(classifier.weight)
    nn.init.zeros_(classifier.bias)
    z0 = torch.randn(2, 3)
    path = latent_ascent(model, classifier, z0, 1, steps=10, step_size=0.1, prior_weight=2.0)
    assert path.codes.shape == (11, 2, 3) and path.steps == 10
    assert torch.allclose(path.codes[-1], 0.8**10 * z0, atol=1e-6)
    assert torch.allclose(path.target_probability, torch.full((11, 2), 0.25))
    assert torch.allclose(path.log_prior, log_standard_normal_density(path.codes))


def test_ascent_raises_the_target_probability_and_leaves_weights_alone():
    model, classifier = small_model_and_classifier()
    before = [p.clone() for p in [*model.parameters(), *classifier.parameters()]]
    z0 = torch.randn(4, 3)
    for prop in ("log_odds", "log_prob"):
        path = latent_ascent(
            model, classifier, z0, [0, 1, 2, 3], steps=50, step_size=0.5, prior_weight=0, prop=prop
        )
        assert (path.target_probability[-1] > path.target_probability[0]).all()
    after = [*model.parameters(), *classifier.parameters()]
    for old, new in zip(before, after, strict=True):
        assert torch.equal(old, new) and new.requires_grad and new.grad is None


def test_the_prior_penalty_keeps_codes_more_probable():
    model, classifier = small_model_and_classifier(seed=1)
    z0 = torch.randn(4, 3)
    free = latent_ascent(model, classifier, z0, 2, steps=100, step_size=0.5, prior_weight=0)
    held = latent_ascent(model, classifier, z0, 2, steps=100, step_size=0.5, prior_weight=1)
    assert (held.log_prior[-1] > free.log_prior[-1]).all()


def test_typical_range_holds_the_stated_mass_of_prior_draws():
    low, high = typical_log_prior_range(20, mass=0.9)
    log_p = log_standard_normal_density(torch.randn(20000, 20, dtype=torch.float64))
    inside = ((log_p > low) & (log_p < high)).double().mean().item()
    assert abs(inside - 0.9) < K_SE * math.sqrt(0.9 * 0.1 / 20000)
    # The mode log p(0) lies above the typical range: high-dimensional prior draws avoid it.
    assert high < -10 * math.log(2 * math.pi)


def test_bad_arguments_are_named():
    model, classifier = small_model_and_classifier()
    with pytest.raises(ValueError, match="prop="):
        latent_ascent(model, classifier, torch.zeros(1, 3), 0, prop="logit")
    with pytest.raises(ValueError, match="prior_weight"):
        latent_ascent(model, classifier, torch.zeros(1, 3), 0, prior_weight=-1)
    with pytest.raises(ValueError, match="z0 must have shape"):
        latent_ascent(model, classifier, torch.zeros(3), 0)
    with pytest.raises(ValueError, match="mass"):
        typical_log_prior_range(2, mass=1.0)
