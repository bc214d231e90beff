"""Few-label learning on frozen representations: how many labels does a classifier need?

A representation (VAE codes, raw pixels, PCA codes) is computed once from all training images
without their labels. Then, for each seed, a few labelled examples per class are drawn, one
classification method is run on their representation, and its error is measured on the whole
test set. The same labelled examples are used for every representation, so the comparison is
paired, and the draws are nested: the 10 examples per class of a seed include its single one.

Methods: :class:`NearestNeighbour` (labelled images only), :class:`SklearnClassifier` (any
scikit-learn classifier) and :class:`LabelSpreading` (semi-supervised: labels spread along a
k-nearest-neighbour graph of all training images).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ._checks import check_nonempty, check_positive_int, to_numpy
from .latent_space import mean_codes

vae_codes = mean_codes  # the name lessons 07 and 08 use: posterior means as a representation


def sample_labeled_indices(labels, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` examples of every class, drawn without replacement.

    labels: (N,) integer class labels -> (num_classes * per_class,) indices, sorted by class.
    For a fixed seed the draws are nested: a larger ``per_class`` keeps the smaller draw's
    examples and adds new ones.
    """
    check_positive_int("per_class", per_class)
    labels = to_numpy(labels)
    check_nonempty("labels", labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must have shape (N,), got {labels.shape}.")
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        if len(members) < per_class:
            raise ValueError(
                f"per_class={per_class} but class {label} has only {len(members)} training "
                "examples; ask for fewer labels per class or use more training data."
            )
        # One permutation per class and seed, cut at per_class, makes the draws nested.
        chosen.append(members[rng.permutation(len(members))[:per_class]])
    return np.concatenate(chosen)


def pca_codes(train_x, test_x, dim: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PCA fitted on all (unlabelled) training images; (N, D), (M, D) -> (N, dim), (M, dim)."""
    from sklearn.decomposition import PCA

    check_positive_int("dim", dim)
    check_nonempty("train_x", train_x)
    pca = PCA(n_components=dim, random_state=seed).fit(to_numpy(train_x))
    return pca.transform(to_numpy(train_x)), pca.transform(to_numpy(test_x))


def standardize(train_features, test_features) -> tuple[np.ndarray, np.ndarray]:
    """Centre features on the unlabelled training mean and divide by one common scale.

    train_features: (N, F), test_features: (M, F) -> the same shapes, float64.
    One scale for all features (the root-mean-square of the centred training features) keeps
    the representation's own geometry: dimensions that barely vary stay small, instead of being
    blown up as a per-feature standardisation would do to nearly constant pixels. Only
    unlabelled training data are used, as a semi-supervised learner may.
    """
    train = to_numpy(train_features).astype(np.float64)
    test = to_numpy(test_features).astype(np.float64)
    check_nonempty("train_features", train)
    if train.ndim != 2 or test.ndim != 2 or train.shape[1] != test.shape[1]:
        raise ValueError(
            f"train_features {train.shape} and test_features {test.shape} must both be "
            "(examples, features) with the same number of features."
        )
    mean = train.mean(0)
    scale = np.sqrt(((train - mean) ** 2).mean())
    if not scale > 0:
        raise ValueError("train_features are constant; a classifier cannot learn from them.")
    return (train - mean) / scale, (test - mean) / scale


class NearestNeighbour:
    """The 1-nearest-neighbour rule: a test image gets the label of the closest labelled one.

    It has nothing to tune and works from one label per class; it is unchanged by shifting or
    rescaling all features together, so no scaling is needed. Uses the labelled images only.
    """

    name = "1-nearest neighbour"

    def prepare(self, train_features: np.ndarray, test_features: np.ndarray):
        return train_features, test_features

    def predict(self, state, labeled: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """labeled: (L,) indices of labelled training rows, labels: (L,) -> (M,) predictions."""
        from sklearn.neighbors import KNeighborsClassifier

        train, test = state
        return KNeighborsClassifier(n_neighbors=1).fit(train[labeled], labels).predict(test)


class SklearnClassifier:
    """Any scikit-learn classifier, fitted afresh on the labelled examples of every draw.

    make: returns an unfitted classifier, e.g. ``lambda: LogisticRegression(max_iter=2000)``.
    """

    def __init__(self, make: Callable, name: str | None = None):
        self.make = make
        self.name = name or type(make()).__name__

    def prepare(self, train_features: np.ndarray, test_features: np.ndarray):
        return train_features, test_features

    def predict(self, state, labeled: np.ndarray, labels: np.ndarray) -> np.ndarray:
        train, test = state
        return self.make().fit(train[labeled], labels).predict(test)


def knn_affinity(features: np.ndarray, k: int):
    """Symmetric 0/1 k-nearest-neighbour graph, normalised: S = D^-1/2 W D^-1/2.

    features: (N, F) -> scipy sparse (N, N). W_ij = 1 if j is among the k nearest neighbours of
    i or i among those of j; D is the diagonal of row sums of W.
    """
    import scipy.sparse as sparse
    from sklearn.neighbors import NearestNeighbors

    check_positive_int("k", k)
    n = len(features)
    # The nearest neighbour of a training point is itself; ask for one more and drop it.
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)[1][:, 1:]
    rows = np.repeat(np.arange(n), k)
    w = sparse.csr_matrix((np.ones(n * k), (rows, neighbours.ravel())), shape=(n, n))
    w = ((w + w.T) > 0).astype(np.float64)
    inverse_sqrt_degree = sparse.diags(1 / np.sqrt(np.asarray(w.sum(1)).ravel()))
    return (inverse_sqrt_degree @ w @ inverse_sqrt_degree).tocsr()


def spread_labels(affinity, seeds: np.ndarray, alpha: float, iterations: int) -> np.ndarray:
    """Label spreading (Zhou et al., 2004): F <- alpha S F + (1 - alpha) Y, from F = Y.

    affinity: S, (N, N); seeds: Y, (N, classes) one-hot rows for labelled points, zeros else.
    Returns F (N, classes); as iterations grow it tends to (1 - alpha)(I - alpha S)^-1 Y.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}.")
    check_positive_int("iterations", iterations)
    spread = seeds.copy()
    for _ in range(iterations):
        spread = alpha * (affinity @ spread) + (1 - alpha) * seeds
    return spread


class LabelSpreading:
    """A semi-supervised rule: labels flow along a k-NN graph of ALL training images.

    The graph is built once per representation from the unlabelled training images; each draw
    of labels is spread over it (:func:`spread_labels`), and a test image takes the majority of
    the spread labels of its k nearest training images. Unlike :class:`NearestNeighbour` it uses
    the unlabelled images too, as semi-supervised models do.
    """

    name = "label spreading"

    def __init__(self, k: int = 10, alpha: float = 0.9, iterations: int = 50):
        check_positive_int("k", k)
        check_positive_int("iterations", iterations)
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha}.")
        self.k, self.alpha, self.iterations = k, alpha, iterations

    def prepare(self, train_features: np.ndarray, test_features: np.ndarray):
        from sklearn.neighbors import NearestNeighbors

        affinity = knn_affinity(train_features, self.k)
        test_neighbours = (
            NearestNeighbors(n_neighbors=self.k).fit(train_features).kneighbors(test_features)[1]
        )
        return affinity, test_neighbours

    def predict(self, state, labeled: np.ndarray, labels: np.ndarray) -> np.ndarray:
        affinity, test_neighbours = state
        num_classes = int(labels.max()) + 1
        seeds = np.zeros((affinity.shape[0], num_classes))
        seeds[labeled, labels] = 1.0
        spread = spread_labels(affinity, seeds, self.alpha, self.iterations)
        # Each training point's scores as a distribution, so every neighbour votes with weight 1.
        spread /= np.maximum(spread.sum(1, keepdims=True), np.finfo(float).tiny)
        return spread[test_neighbours].sum(1).argmax(1)


@dataclass
class FewLabelResult:
    """Test errors of a few-label experiment.

    errors: (representations, label counts, seeds) array of test error rates in [0, 1].
    """

    names: list[str]
    labels_per_class: list[int]
    seeds: list[int]
    errors: np.ndarray
    method: str = ""

    def _index(self, name: str, per_class: int) -> tuple[int, int]:
        if name not in self.names:
            raise ValueError(f"name={name!r} is not in this result; use one of {self.names}.")
        if per_class not in self.labels_per_class:
            raise ValueError(
                f"per_class={per_class} was not run; use one of {self.labels_per_class}."
            )
        return self.names.index(name), self.labels_per_class.index(per_class)

    def mean(self) -> np.ndarray:
        """Mean error over seeds, (representations, label counts)."""
        return self.errors.mean(-1)

    def std(self) -> np.ndarray:
        """Standard deviation over seeds (ddof=1), (representations, label counts)."""
        return self.errors.std(-1, ddof=1) if len(self.seeds) > 1 else np.zeros(self.mean().shape)

    def stderr(self) -> np.ndarray:
        """Standard error of the mean error, std / sqrt(seeds)."""
        return self.std() / math.sqrt(len(self.seeds))

    def summary(self, name: str, per_class: int) -> tuple[float, float, float]:
        """(mean, std, standard error) of the error of one representation at one label count."""
        i, j = self._index(name, per_class)
        return float(self.mean()[i, j]), float(self.std()[i, j]), float(self.stderr()[i, j])

    def paired_difference(self, first: str, second: str, per_class: int) -> tuple[float, float]:
        """Mean and standard error of error(first) - error(second) over the same label draws."""
        i, j = self._index(first, per_class)
        k, _ = self._index(second, per_class)
        diff = self.errors[i, j] - self.errors[k, j]
        se = diff.std(ddof=1) / math.sqrt(len(diff)) if len(diff) > 1 else 0.0
        return float(diff.mean()), float(se)

    def table(self) -> str:
        """A plain-text table of mean ± std (in %) per representation and label count."""
        header = f"{'representation':<16}" + "".join(
            f"{f'{n} per class':>20}" for n in self.labels_per_class
        )
        rows = [header]
        for i, name in enumerate(self.names):
            cells = "".join(
                f"{f'{100 * self.mean()[i, j]:.1f} ± {100 * self.std()[i, j]:.1f} %':>20}"
                for j in range(len(self.labels_per_class))
            )
            rows.append(f"{name:<16}{cells}")
        return "\n".join(rows)


def few_label_experiment(
    features: Mapping[str, tuple],
    train_y,
    test_y,
    labels_per_class: Iterable[int] = (1, 10, 100),
    seeds: Iterable[int] = range(10),
    method=None,
) -> FewLabelResult:
    """Classify the test set from a few labelled examples per class, for every representation.

    features: name -> (train_features (N, F), test_features (M, F)).
    train_y: (N,) labels of the training images (only the drawn ones are used).
    test_y: (M,) labels of the test images.
    method: how to classify, the same for every representation: an object with
        ``prepare(train, test)`` (work that needs no labels, done once per representation) and
        ``predict(state, labeled, labels)``; default :class:`NearestNeighbour`.
    """
    method = method or NearestNeighbour()
    labels_per_class = [int(n) for n in labels_per_class]
    seeds = [int(s) for s in seeds]
    if not features or not labels_per_class or not seeds:
        raise ValueError("features, labels_per_class and seeds must each be non-empty.")
    train_y, test_y = to_numpy(train_y), to_numpy(test_y)
    check_nonempty("train_y", train_y)
    check_nonempty("test_y", test_y)
    states = {}
    for name, (train_f, test_f) in features.items():
        train_f, test_f = to_numpy(train_f), to_numpy(test_f)
        if len(train_f) != len(train_y) or len(test_f) != len(test_y):
            raise ValueError(
                f"features[{name!r}] has {len(train_f)} train / {len(test_f)} test rows but there "
                f"are {len(train_y)} train / {len(test_y)} test labels; pass one row per image."
            )
        states[name] = method.prepare(train_f, test_f)
    errors = np.empty((len(states), len(labels_per_class), len(seeds)))
    for k, seed in enumerate(seeds):
        for j, per_class in enumerate(labels_per_class):
            chosen = sample_labeled_indices(train_y, per_class, seed)
            for i, state in enumerate(states.values()):
                predictions = method.predict(state, chosen, train_y[chosen])
                errors[i, j, k] = np.mean(predictions != test_y)
    return FewLabelResult(list(states), labels_per_class, seeds, errors, method.name)


def plot_few_label_errors(
    result: FewLabelResult, published: Mapping[str, tuple] | None = None, ax=None
):
    """Test error (%) against labels per class, mean ± std over seeds, log-scaled x axis.

    published: optional label -> (labels per class, error in %) points drawn as stars.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
    else:
        fig = ax.figure
    x = np.asarray(result.labels_per_class)
    for i, name in enumerate(result.names):
        ax.errorbar(
            x * (1 + 0.04 * (i - 1)),  # a small offset so error bars do not overlap
            100 * result.mean()[i],
            yerr=100 * result.std()[i],
            marker="o",
            capsize=3,
            label=name,
        )
    for label, (per_class, error) in (published or {}).items():
        ax.plot([per_class], [error], marker="*", markersize=12, linestyle="none", label=label)
    ax.set_xscale("log")
    ax.set_xticks(x, [str(n) for n in x])
    ax.set_xlabel("labelled examples per class")
    ax.set_ylabel("test error (%)")
    method = f"{result.method}, " if result.method else ""
    ax.set_title(f"{method}mean ± std over {len(result.seeds)} label draws")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
