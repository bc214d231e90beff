"""Few-label experiments: label draws, scaling, the experiment loop and its error bars."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from vae_tutorial.few_labels import (
    FewLabelResult,
    LabelSpreading,
    NearestNeighbour,
    SklearnClassifier,
    few_label_experiment,
    knn_affinity,
    pca_codes,
    plot_few_label_errors,
    sample_labeled_indices,
    spread_labels,
    standardize,
    vae_codes,
)
from vae_tutorial.models import VAE

matplotlib.use("Agg")


def blobs(n_per_class=30, num_classes=3, dim=5, spread=0.1, seed=0):
    """Well separated Gaussian blobs, one per class, and their labels (shuffled)."""
    rng = np.random.default_rng(seed)
    centres = 5 * np.eye(num_classes, dim)
    x = np.concatenate([c + spread * rng.standard_normal((n_per_class, dim)) for c in centres])
    y = np.repeat(np.arange(num_classes), n_per_class)
    order = rng.permutation(len(y))
    return x[order], y[order]


def test_label_draws_are_balanced_distinct_reproducible_and_nested():
    labels = torch.as_tensor(
        np.repeat(np.arange(10), 20)[np.random.default_rng(1).permutation(200)]
    )
    small = sample_labeled_indices(labels, 1, seed=3)
    large = sample_labeled_indices(labels, 10, seed=3)
    assert np.array_equal(np.bincount(labels.numpy()[large]), np.full(10, 10))
    assert len(np.unique(large)) == len(large) == 100
    assert np.array_equal(large, sample_labeled_indices(labels, 10, seed=3))
    assert set(small) <= set(large), "draws of one seed should be nested"
    assert not np.array_equal(large, sample_labeled_indices(labels, 10, seed=4))


def test_label_draws_refuse_more_labels_than_a_class_has():
    with pytest.raises(ValueError, match="class 1 has only 2"):
        sample_labeled_indices(np.array([0, 0, 0, 1, 1]), 3, seed=0)
    with pytest.raises(ValueError, match="per_class"):
        sample_labeled_indices(np.array([0, 1]), 0, seed=0)


def test_standardize_uses_training_statistics_only():
    rng = np.random.default_rng(0)
    train = rng.normal(3.0, [1.0, 10.0], size=(500, 2))
    test = rng.normal(3.0, 1.0, size=(7, 2))
    train_s, test_s = standardize(train, test)
    assert np.allclose(train_s.mean(0), 0, atol=1e-12)
    assert math.isclose(np.sqrt((train_s**2).mean()), 1.0, rel_tol=1e-12)
    # One common scale: the ratio of the two features' spreads is kept.
    assert math.isclose(train_s.std(0)[1] / train_s.std(0)[0], train.std(0)[1] / train.std(0)[0])
    scale = np.sqrt(((train - train.mean(0)) ** 2).mean())
    assert np.allclose(test_s, (test - train.mean(0)) / scale)
    with pytest.raises(ValueError, match="same number of features"):
        standardize(train, test[:, :1])


def test_experiment_separates_blobs_and_fails_on_noise():
    x, y = blobs()
    x_test, y_test = blobs(seed=1)
    noise = np.random.default_rng(2).standard_normal(x.shape)
    noise_test = np.random.default_rng(3).standard_normal(x_test.shape)
    result = few_label_experiment(
        {"blobs": (x, x_test), "noise": (noise, noise_test)},
        y,
        y_test,
        labels_per_class=(1, 5),
        seeds=range(4),
    )
    assert result.errors.shape == (2, 2, 4)
    assert np.all(result.errors[0] == 0), "one label per well separated blob is enough"
    # Noise carries no information: the error stays near chance (2/3), far above the blobs'.
    assert result.mean()[1].min() > 0.4


def test_experiment_matches_direct_scikit_learn_fits():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    x, y = blobs(spread=3.0)
    x_test, y_test = blobs(spread=3.0, seed=1)
    chosen = sample_labeled_indices(y, 4, seed=7)
    for method, direct in [
        (NearestNeighbour(), KNeighborsClassifier(n_neighbors=1)),
        (SklearnClassifier(lambda: LogisticRegression(max_iter=2000)), LogisticRegression()),
    ]:
        result = few_label_experiment(
            {"x": (x, x_test)}, y, y_test, labels_per_class=(4,), seeds=[7], method=method
        )
        expected = np.mean(direct.fit(x[chosen], y[chosen]).predict(x_test) != y_test)
        assert result.errors[0, 0, 0] == expected
        assert 0 < expected < 2 / 3, "the check needs an error strictly between"
        assert result.method == method.name


def two_arcs(n=200, seed=0):
    """Two long parallel arcs, one class each: neighbours along an arc are far closer than the
    gap between the arcs, but the arcs are much longer than that gap."""
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 3, size=(2, n))
    x = np.concatenate([np.stack([t[c] * 4, np.full(n, 1.5 * c)], 1) for c in (0, 1)])
    return x + 0.05 * rng.standard_normal(x.shape), np.repeat([0, 1], n)


def test_label_spreading_follows_the_data_where_nearest_neighbour_cannot():
    x, y = two_arcs()
    x_test, y_test = two_arcs(seed=1)
    # One label per class, at opposite ends of the arcs: half of each arc is closer to the
    # other class's labelled point, so 1-NN fails there; spreading along the arcs does not.
    labeled = np.array([np.argmin(x[:200, 0]), 200 + np.argmax(x[200:, 0])])
    nearest = NearestNeighbour()
    spreading = LabelSpreading(k=5, alpha=0.99, iterations=400)
    errors = {}
    for method in (nearest, spreading):
        predicted = method.predict(method.prepare(x, x_test), labeled, y[labeled])
        errors[method.name] = np.mean(predicted != y_test)
    assert errors["1-nearest neighbour"] > 0.2
    assert errors["label spreading"] < 0.01


def test_spreading_converges_to_the_closed_form():
    x, _ = blobs(n_per_class=10, spread=2.0)
    affinity = knn_affinity(x, k=4)
    dense = affinity.toarray()
    assert np.allclose(dense, dense.T) and np.all(np.diag(dense) == 0)
    seeds = np.zeros((len(x), 3))
    seeds[[0, 1, 2], [0, 1, 2]] = 1
    alpha = 0.8
    closed = (1 - alpha) * np.linalg.solve(np.eye(len(x)) - alpha * dense, seeds)
    assert np.allclose(spread_labels(affinity, seeds, alpha, iterations=300), closed, atol=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        spread_labels(affinity, seeds, 1.0, 10)


def test_experiment_checks_row_counts():
    x, y = blobs()
    with pytest.raises(ValueError, match="one row per image"):
        few_label_experiment({"x": (x[:-1], x)}, y, y)


def test_result_statistics_and_table():
    errors = np.array([[[0.1, 0.3, 0.2], [0.05, 0.07, 0.06]], [[0.2, 0.4, 0.3], [0.1, 0.1, 0.1]]])
    result = FewLabelResult(["a", "b"], [1, 10], [0, 1, 2], errors)
    assert np.allclose(result.mean(), [[0.2, 0.06], [0.3, 0.1]])
    assert np.allclose(result.std()[0, 0], 0.1)
    assert np.allclose(result.stderr()[0, 0], 0.1 / math.sqrt(3))
    mean, std, se = result.summary("a", 10)
    assert (round(mean, 6), round(std, 6), round(se, 6)) == (0.06, 0.01, round(0.01 / 3**0.5, 6))
    diff, diff_se = result.paired_difference("a", "b", 1)
    assert math.isclose(diff, -0.1) and diff_se < 1e-12, "a constant difference has no spread"
    assert "20.0 ± 10.0 %" in result.table()
    with pytest.raises(ValueError, match="per_class=5 was not run"):
        result.summary("a", 5)
    fig = plot_few_label_errors(result, published={"paper": (10, 3.3)})
    assert fig.axes[0].get_xlabel() == "labelled examples per class"
    matplotlib.pyplot.close(fig)


def test_vae_codes_are_posterior_means_and_pca_codes_have_the_asked_size():
    model = VAE(latent_dim=3, hidden_dim=8, input_dim=12)
    x = torch.bernoulli(torch.rand(25, 12))
    codes = vae_codes(model, x, batch_size=7)
    assert np.allclose(codes, model.encoder_params(x)[0].detach().numpy(), atol=1e-6)
    train, test = pca_codes(x, x[:5], dim=4)
    assert train.shape == (25, 4) and test.shape == (5, 4)
    assert np.allclose(train[:5], test)
    assert np.all(np.diff(train.var(0)) <= 1e-12), "PCA components come in order of variance"
