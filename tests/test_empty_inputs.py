"""Empty input to a public function is one clear ValueError naming the argument, never a crash
deep inside (a ZeroDivisionError, an IndexError, a shape error of some library)."""

import numpy as np
import pytest
import torch

from vae_tutorial import amortization, few_labels, images, latent_metrics, latent_space, plots
from vae_tutorial.classifier import knn_accuracy, train_digit_classifier
from vae_tutorial.flows import FlowPosterior, fit_posterior
from vae_tutorial.latent_optimisation import latent_ascent
from vae_tutorial.likelihood import log_marginal_likelihood
from vae_tutorial.linear_gaussian import LinearGaussian, fit_ppca
from vae_tutorial.models import VAE, Autoencoder
from vae_tutorial.objectives import (
    elbo,
    iwae_bound,
    log_importance_weights,
    reconstruction_log_likelihood,
)
from vae_tutorial.training import evaluate, fit

torch.manual_seed(0)
VAE_ = VAE(latent_dim=2, hidden_dim=8).eval()
AE = Autoencoder(latent_dim=2, hidden_dim=8).eval()
NONE = torch.rand(0, 784)
SOME = torch.bernoulli(torch.full((4, 784), 0.5))
ZEROS = torch.zeros(0, 2)
EMPTY_2D = np.zeros((0, 2))

CALLS = {
    "fit": (lambda: fit(VAE(latent_dim=2, hidden_dim=8), NONE, 1, progress=False), "x"),
    "fit test_x": (
        lambda: fit(VAE(latent_dim=2, hidden_dim=8), SOME, 1, progress=False, test_x=NONE),
        "test_x",
    ),
    "evaluate": (lambda: evaluate(VAE_, NONE), "x"),
    "elbo": (lambda: elbo(VAE_, NONE), "x"),
    "iwae_bound": (lambda: iwae_bound(VAE_, NONE, 3), "x"),
    "reconstruction": (lambda: reconstruction_log_likelihood(AE, NONE), "x"),
    "log_importance_weights": (lambda: log_importance_weights(VAE_, NONE, 3), "x"),
    "log_marginal_likelihood": (lambda: log_marginal_likelihood(VAE_, NONE, 10), "x"),
    "gaussian_elbo": (lambda: amortization.gaussian_elbo(VAE_, NONE, ZEROS, ZEROS), "x"),
    "optimise_gaussian_posterior": (
        lambda: amortization.optimise_gaussian_posterior(VAE_, NONE, steps=2),
        "x",
    ),
    "fit_posterior": (lambda: fit_posterior(VAE_, NONE, FlowPosterior(ZEROS, ZEROS), 2), "x"),
    "mean_codes": (lambda: latent_space.mean_codes(VAE_, NONE), "images"),
    "latent_activity": (lambda: latent_space.latent_activity(VAE_, NONE), "images"),
    "thickness_vector": (lambda: latent_space.thickness_vector(VAE_, NONE), "images"),
    "vae_codes": (lambda: few_labels.vae_codes(VAE_, NONE), "images"),
    "sample_labeled_indices": (lambda: few_labels.sample_labeled_indices([], 1, 0), "labels"),
    "pca_codes": (lambda: few_labels.pca_codes(np.zeros((0, 5)), np.zeros((3, 5)), 2), "train_x"),
    "standardize": (
        lambda: few_labels.standardize(np.zeros((0, 2)), np.zeros((3, 2))),
        "train_features",
    ),
    "few_label_experiment": (
        lambda: few_labels.few_label_experiment({"a": (EMPTY_2D, EMPTY_2D)}, [], []),
        "train_y",
    ),
    "unit_activity": (lambda: latent_metrics.unit_activity(np.zeros((0, 3))), "mu"),
    "train_digit_classifier": (
        lambda: train_digit_classifier(NONE, torch.zeros(0, dtype=torch.int64)),
        "x",
    ),
    "knn_accuracy": (
        lambda: knn_accuracy(np.zeros((0, 2)), [], np.zeros((3, 2)), [0, 1, 2]),
        "train_codes",
    ),
    "latent_ascent": (lambda: latent_ascent(VAE_, torch.nn.Linear(784, 10), ZEROS, 1), "z0"),
    "image_grid": (lambda: plots.image_grid(NONE), "images"),
    "tile": (lambda: images.tile(np.zeros((0, 28, 28)), 4), "images"),
    "fit_ppca": (lambda: fit_ppca(torch.zeros(0, 5), 2), "x"),
    "log_marginal": (lambda: LinearGaussian(5, 2).log_marginal(torch.zeros(0, 5)), "x"),
}


@pytest.mark.parametrize("name", CALLS)
def test_empty_input_is_one_clear_sentence_naming_the_argument(name):
    call, argument = CALLS[name]
    with pytest.raises(ValueError) as error:
        call()
    message = str(error.value)
    assert message.startswith(f"{argument} ") or f" {argument} " in f" {message}", message
    assert message.count(". ") == 0 and message.endswith("."), message
