"""Latent-space numbers against brute-force and Monte-Carlo references."""

import numpy as np
import pytest
import torch

from vae_tutorial.latent_metrics import (
    active_units,
    aggregate_posterior_moments,
    neighbour_class_mixing,
    unit_activity,
)


def test_mixing_matches_brute_force():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(60, 3))
    labels = rng.integers(0, 3, size=60)
    distances = ((codes[:, None] - codes[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    nearest = np.argsort(distances, axis=1)[:, :5]
    expected = (labels[nearest] != labels[:, None]).mean()
    assert neighbour_class_mixing(codes, labels, k=5) == pytest.approx(expected)


def test_mixing_is_zero_for_separated_classes_and_high_for_random_labels():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 50)
    separated = rng.normal(size=(200, 2)) + 100 * labels[:, None]
    assert neighbour_class_mixing(torch.tensor(separated), torch.tensor(labels)) == 0.0
    shuffled = rng.permutation(labels)
    assert neighbour_class_mixing(separated, shuffled) > 0.6  # about 3/4 by chance


def test_active_units_counts_moving_means():
    rng = np.random.default_rng(2)
    mu = np.concatenate([rng.normal(size=(500, 3)), 0.01 * rng.normal(size=(500, 2))], axis=1)
    assert active_units(mu) == 3
    assert np.allclose(unit_activity(mu), mu.var(axis=0))


def test_aggregate_moments_match_samples_from_the_mixture():
    generator = torch.Generator().manual_seed(0)
    mu = torch.randn(200, 4, generator=generator, dtype=torch.float64)
    log_sigma = 0.3 * torch.randn(200, 4, generator=generator, dtype=torch.float64)
    mean, var = aggregate_posterior_moments(mu, log_sigma)
    draws = 500
    z = mu + log_sigma.exp() * torch.randn(draws, 200, 4, generator=generator, dtype=torch.float64)
    z = z.reshape(-1, 4).numpy()
    stderr_mean = np.sqrt(var / len(z))
    assert (np.abs(z.mean(0) - mean) < 4 * stderr_mean).all()
    # Var of the sample variance ~ (m4 - var^2) / n, from the draws themselves.
    centred = z - z.mean(0)
    stderr_var = np.sqrt(((centred**2 - var) ** 2).mean(0) / len(z))
    assert (np.abs(centred.var(0) - var) < 4 * stderr_var).all()


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="labels must have shape"):
        neighbour_class_mixing(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="needs more than k points"):
        neighbour_class_mixing(np.zeros((5, 2)), np.zeros(5), k=5)
    with pytest.raises(ValueError, match="same shape"):
        aggregate_posterior_moments(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        unit_activity(np.full((3, 2), np.nan))
