"""The semi-supervised VAE "M2" of Kingma, Rezende, Mohamed & Welling (2014).

The label y is a latent variable of the generative model, observed for a few images only:

    p_theta(x, y, z) = p_theta(x | y, z) p(y) p(z),   p(y) = 1/10,   p(z) = N(0, I),

with two inference networks, q_phi(z | x, y) (a Gaussian) and the classifier q_phi(y | x).
For a labelled image the ELBO is

    L(x, y) = E_{q(z|x,y)}[log p(x | y, z)] + log p(y) - KL(q(z | x, y) || p(z)),

for an unlabelled image y is summed out exactly (10 terms) and the classifier's entropy added:

    U(x) = sum_y q(y | x) L(x, y) + H(q(y | x)).

Training maximises the mean of U over unlabelled images plus the mean of L + alpha log q(y|x)
over labelled ones (the article's J^alpha, written per example). Every value is in nats.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch import nn
from torch.distributions import Bernoulli, Categorical, Independent, Normal
from torch.nn import functional as F

from ._checks import check_data, check_positive_int
from .checkpoints import train_or_load
from .data import load_mnist
from .few_labels import sample_labeled_indices
from .objectives import kl_to_standard_normal
from .seeding import resolve_seed, seed_everything
from .training import History, default_device, make_optimizer, progress_bar, show_epoch

NUM_CLASSES = 10

# The recipe of the shared M2 models (the lesson's; see shared_m2).
# A small z (4 numbers) leaves the digit to y; lr 3e-3 lets 20 short epochs suffice.
SHARED_M2 = {
    "latent_dim": 4,
    "hidden_dim": 256,
    "alpha": 50.0,
    "epochs": 20,
    "batch_size": 100,
    "lr": 3e-3,
}


# --------------------------------------------------------------------------- the model


class Classifier(nn.Module):
    """q_phi(y|x): an MLP x (batch, input_dim) -> logits (batch, num_classes)."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 256, num_classes: int = 10):
        super().__init__()
        check_positive_int("input_dim", input_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("num_classes", num_classes)
        self.input_dim = input_dim
        self.num_classes = num_classes
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def distribution(self, x: torch.Tensor) -> Categorical:
        """q_phi(y|x) as a Categorical with batch shape (batch,)."""
        return Categorical(logits=self(x), validate_args=False)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """The most probable class per image: x (N, input_dim) -> (N,) int64."""
        check_data(x, "x", dim=self.input_dim)
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            parts = [
                self(x[i : i + batch_size].to(device)).argmax(-1).cpu()
                for i in range(0, len(x), batch_size)
            ]
        finally:
            self.train(was_training)
        return torch.cat(parts)


class M2(nn.Module):
    """The M2 model: p_theta(x|y,z) p(y) p(z), q_phi(z|x,y) and the classifier q_phi(y|x).

    Each network has one hidden layer of ``hidden_dim`` ReLU units. The label enters the encoder
    and the decoder one-hot, through its own weight matrix (the same as concatenating [x, y] or
    [z, y]), so scoring all 10 labels of an image runs the 784-input layer only once.
    latent_dim: size of z. input_dim: pixels per image (binary, Bernoulli likelihood).
    """

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dim: int = 256,
        num_classes: int = NUM_CLASSES,
        input_dim: int = 784,
    ):
        super().__init__()
        for name, value in [
            ("latent_dim", latent_dim),
            ("hidden_dim", hidden_dim),
            ("num_classes", num_classes),
            ("input_dim", input_dim),
        ]:
            check_positive_int(name, value)
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.num_classes = num_classes
        self.input_dim = input_dim
        self.likelihood = "bernoulli"
        self.classifier = Classifier(input_dim, hidden_dim, num_classes)
        self.encoder_x = nn.Linear(input_dim, hidden_dim)
        self.encoder_y = nn.Linear(num_classes, hidden_dim, bias=False)
        self.encoder_out = nn.Linear(hidden_dim, 2 * latent_dim)
        self.decoder_z = nn.Linear(latent_dim, hidden_dim)
        self.decoder_y = nn.Linear(num_classes, hidden_dim, bias=False)
        self.decoder_out = nn.Linear(hidden_dim, input_dim)

    def config(self) -> dict:
        """The constructor arguments, to rebuild the same model."""
        return {
            "latent_dim": self.latent_dim,
            "hidden_dim": self.hidden_dim,
            "num_classes": self.num_classes,
            "input_dim": self.input_dim,
        }

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _label_rows(self, layer: nn.Linear, y: torch.Tensor) -> torch.Tensor:
        # layer(one_hot(y)) without building the one-hot matrix: column y of the weights.
        return layer.weight.t()[y]

    def classify(self, x: torch.Tensor) -> Categorical:
        """q_phi(y|x): x (batch, input_dim) -> Categorical with batch shape (batch,)."""
        return self.classifier.distribution(x)

    def encoder_params(self, x: torch.Tensor, y: torch.Tensor):
        """(mu, log_sigma) of q_phi(z|x,y); x (batch, input_dim), y (..., batch) int64
        -> each (..., batch, latent_dim)."""
        hidden = F.relu(self.encoder_x(x) + self._label_rows(self.encoder_y, y))
        mu, log_sigma = self.encoder_out(hidden).chunk(2, dim=-1)
        return mu, log_sigma

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> Independent:
        """q_phi(z|x,y) = N(mu, diag sigma^2); batch shape (..., batch), event (latent_dim,)."""
        mu, log_sigma = self.encoder_params(x, y)
        return Independent(Normal(mu, log_sigma.exp(), validate_args=False), 1)

    def decoder_logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """z (..., latent_dim), y (...) int64 -> Bernoulli logits (..., input_dim)."""
        hidden = F.relu(self.decoder_z(z) + self._label_rows(self.decoder_y, y))
        return self.decoder_out(hidden)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> Independent:
        """p_theta(x|y,z) for z (..., latent_dim), y (...); event shape (input_dim,)."""
        logits = self.decoder_logits(z, y)
        return Independent(Bernoulli(logits=logits, validate_args=False), 1)

    def prior(self) -> Independent:
        """p(z) = N(0, I) on this model's device."""
        zeros = torch.zeros(self.latent_dim, device=self.device)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1)

    def label_prior(self) -> Categorical:
        """p(y): uniform over the classes."""
        return Categorical(
            logits=torch.zeros(self.num_classes, device=self.device), validate_args=False
        )

    @torch.no_grad()
    def generate(self, z: torch.Tensor, y) -> torch.Tensor:
        """E[x|y,z] (pixel probabilities) for codes z (n, latent_dim) and labels y (n,) or one
        int -> (n, input_dim). Fix z and vary y to change the digit but keep the style."""
        z = z.to(self.device)
        y = torch.as_tensor(y, device=self.device).expand(z.shape[:-1])
        check_labels(y, "y", self.num_classes)
        return torch.sigmoid(self.decoder_logits(z, y))

    def check_input(self, x: torch.Tensor, name: str = "x", allow_grey: bool = False):
        """Raise a clear ValueError unless x is (batch, input_dim) binary images."""
        return check_data(x, name, dim=self.input_dim, binary=not allow_grey)


# --------------------------------------------------------------------------- input checks


def check_labels(y, name: str = "y", num_classes: int = NUM_CLASSES, size: int | None = None):
    """Raise one ValueError sentence unless y is an integer tensor of class labels in
    0..num_classes-1 (of length ``size`` when given); return it."""
    if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
        raise ValueError(
            f"{name} must be an integer tensor of class labels 0-{num_classes - 1}, got "
            f"{getattr(y, 'dtype', type(y).__name__)}; use torch.as_tensor({name}, "
            "dtype=torch.int64)."
        )
    if size is not None and y.shape != (size,):
        raise ValueError(
            f"{name} has shape {tuple(y.shape)} but there are {size} images; pass one label "
            "per image."
        )
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        bad = y[(y < 0) | (y >= num_classes)][0].item()
        raise ValueError(
            f"{name} holds the label {bad}, outside 0-{num_classes - 1}; labels must be the "
            f"class numbers 0 to {num_classes - 1}."
        )
    return y


def check_labelled_mask(labelled, num_images: int) -> torch.Tensor:
    """Raise one ValueError sentence unless ``labelled`` is a boolean mask (num_images,) that
    marks at least one image; return it."""
    if not isinstance(labelled, torch.Tensor) or labelled.dtype != torch.bool:
        raise ValueError(
            "labelled must be a boolean tensor with one True (labelled) or False entry per "
            "image; build it with labelled_mask(indices, len(x))."
        )
    if labelled.shape != (num_images,):
        raise ValueError(
            f"labelled has shape {tuple(labelled.shape)} but x has {num_images} images; pass "
            "one True/False entry per image."
        )
    if not labelled.any():
        raise ValueError(
            "labelled marks no image as labelled; mark at least one image per class as "
            "labelled (M2 needs some labels to learn what y means)."
        )
    return labelled


def labelled_mask(indices, num_images: int) -> torch.Tensor:
    """A boolean mask (num_images,) that is True at ``indices``."""
    mask = torch.zeros(num_images, dtype=torch.bool)
    mask[torch.as_tensor(np.asarray(indices), dtype=torch.int64)] = True
    return mask


# --------------------------------------------------------------------------- the objectives


def labelled_elbo(model: M2, x: torch.Tensor, y: torch.Tensor, eps=None) -> torch.Tensor:
    """L(x, y) = E_q(z|x,y)[log p(x|y,z)] + log p(y) - KL(q(z|x,y) || p(z)), one sample of z.

    x: (batch, input_dim) in {0, 1}; y: (..., batch) int64 in 0..9 -> (..., batch) nats.
    eps: optional noise of the shape of z, (..., batch, latent_dim); z = mu + sigma * eps.
    """
    model.check_input(x)
    check_labels(y, "y", model.num_classes)
    if y.shape[-1:] != x.shape[:1]:
        raise ValueError(
            f"y has shape {tuple(y.shape)} but x holds {len(x)} images; its last dimension "
            "must be one label per image."
        )
    return _labelled_elbo(model, x, y, eps)


def _labelled_elbo(model, x, y, eps=None):
    mu, log_sigma = model.encoder_params(x, y)
    if eps is None:
        eps = torch.randn_like(mu)
    z = mu + log_sigma.exp() * eps
    log_px = model.decode(z, y).log_prob(x)
    log_py = -math.log(model.num_classes)  # p(y) is uniform
    return log_px + log_py - kl_to_standard_normal(mu, log_sigma)


def elbo_table(model: M2, x: torch.Tensor, eps=None) -> torch.Tensor:
    """L(x, y) for every class y: x (batch, input_dim) -> (batch, num_classes) nats.

    eps: optional noise (num_classes, batch, latent_dim); row y is used for label y.
    """
    model.check_input(x)
    return _elbo_table(model, x, eps)


def _elbo_table(model, x, eps=None):
    classes = torch.arange(model.num_classes, device=x.device)
    y = classes[:, None].expand(model.num_classes, len(x))
    return _labelled_elbo(model, x, y, eps).t()


def unlabelled_elbo(model: M2, x: torch.Tensor, eps=None) -> torch.Tensor:
    """U(x) = sum_y q(y|x) L(x, y) + H(q(y|x)), the sum over the classes done exactly.

    x: (batch, input_dim) in {0, 1} -> (batch,) nats. eps: as for :func:`elbo_table`.
    """
    model.check_input(x)
    return _unlabelled_elbo(model, x, eps)


def _unlabelled_elbo(model, x, eps=None):
    q_y = model.classify(x)
    probs = q_y.probs
    return (probs * _elbo_table(model, x, eps)).sum(-1) + q_y.entropy()


def classification_log_likelihood(model: M2, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """log q_phi(y|x), the classification term: x (batch, input_dim), y (batch,) -> (batch,)."""
    check_data(x, "x", dim=model.input_dim)
    check_labels(y, "y", model.num_classes, size=len(x))
    return model.classify(x).log_prob(y)


def m2_objective(
    model: M2,
    x_labelled: torch.Tensor,
    y_labelled: torch.Tensor,
    x_unlabelled: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """J^alpha per example: mean U(x) over the unlabelled batch + mean [L(x, y) + alpha log
    q(y|x)] over the labelled batch; a scalar in nats, to be maximised.

    x_labelled: (n_l, input_dim), y_labelled: (n_l,), x_unlabelled: (n_u, input_dim), binary.
    """
    model.check_input(x_labelled, "x_labelled")
    model.check_input(x_unlabelled, "x_unlabelled")
    check_labels(y_labelled, "y_labelled", model.num_classes, size=len(x_labelled))
    return _m2_objective(model, x_labelled, y_labelled, x_unlabelled, alpha)


def _m2_objective(model, x_l, y_l, x_u, alpha):
    labelled = _labelled_elbo(model, x_l, y_l) + alpha * model.classify(x_l).log_prob(y_l)
    return _unlabelled_elbo(model, x_u).mean() + labelled.mean()


@torch.no_grad()
def test_error(classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of images whose most probable class is not y. classifier: an M2 model or a
    :class:`Classifier`; x (N, input_dim), y (N,)."""
    net = classifier.classifier if isinstance(classifier, M2) else classifier
    check_labels(y, "y", net.num_classes, size=len(x))
    return (net.predict(x) != y.cpu()).float().mean().item()


# --------------------------------------------------------------------------- training


def train_m2(
    model: M2,
    x: torch.Tensor,
    y: torch.Tensor,
    labelled: torch.Tensor,
    epochs: int,
    alpha: float = SHARED_M2["alpha"],
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int | None = None,
    progress: bool = True,
    test_x: torch.Tensor | None = None,
    test_y: torch.Tensor | None = None,
    device: str | torch.device | None = None,
) -> History:
    """Train M2 on x with the labels y where ``labelled`` is True (the other labels are unused).

    x: (N, input_dim) in [0, 1], binarized afresh every epoch; y: (N,) int64; labelled: (N,)
    bool. One epoch is one pass over the unlabelled images in batches of ``batch_size``; every
    step also takes ``batch_size`` labelled images (all of them if there are fewer), so the
    labelled ones are seen many times per epoch. alpha: weight of log q(y|x) on labelled images.
    seed: initial shuffles and noise; None uses the run's seed.
    Returns a History: train = J^alpha per epoch (nats, mean over steps); test = the
    classifier's error on (test_x, test_y) after each epoch (a fraction), if given.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    check_data(x, "x", dim=model.input_dim)
    labelled = check_labelled_mask(labelled, len(x))
    y = check_labels(y.masked_fill(~labelled, 0), "y", model.num_classes, size=len(x))
    if not alpha >= 0:
        raise ValueError(f"alpha must be a number >= 0, got {alpha!r}.")
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    if (test_x is None) != (test_y is None):
        raise ValueError("pass test_x and test_y together (or neither).")
    if test_x is not None:
        model.check_input(test_x, "test_x", allow_grey=True)
        check_labels(test_y, "test_y", model.num_classes, size=len(test_x))
    seed = resolve_seed(seed)
    generator = seed_everything(seed)
    device = torch.device(device) if device is not None else default_device()
    model.to(device)
    model.train()
    x = x.to(device)
    label_index = torch.nonzero(labelled).squeeze(1)
    unlabelled_index = torch.nonzero(~labelled).squeeze(1)
    if len(unlabelled_index) == 0:  # every image labelled: the unlabelled term sees them too
        unlabelled_index = label_index
    y_l = y[label_index].to(device)
    n_u, n_l = len(unlabelled_index), len(label_index)
    batch_l = min(batch_size, n_l)
    optimizer = make_optimizer(model, lr)
    history = History(objective="m2")
    bar = progress_bar(epochs, progress, desc="M2 epochs")
    import time

    start = time.perf_counter()
    for _ in range(epochs):
        binary = torch.bernoulli(x.cpu(), generator=generator).to(device)
        x_u_all, x_l_all = binary[unlabelled_index.to(device)], binary[label_index.to(device)]
        order = torch.randperm(n_u, generator=generator)
        total, steps = 0.0, 0
        for i in range(0, n_u, batch_size):
            pick = torch.randperm(n_l, generator=generator)[:batch_l].to(device)
            objective = _m2_objective(
                model, x_l_all[pick], y_l[pick], x_u_all[order[i : i + batch_size]], alpha
            )
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            optimizer.step()
            total += objective.detach()
            steps += 1
        history.train.append(float(total) / steps)
        if test_x is not None:
            history.test.append(test_error(model, test_x, test_y))
        history.seconds.append(time.perf_counter() - start)
        error = f"{history.test[-1]:.3f}" if history.test else ""
        show_epoch(bar, J=f"{history.train[-1]:.1f}", **{"test error": error})
    if bar is not None:
        bar.close()
    model.eval()
    return history


def train_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    labelled: torch.Tensor,
    steps: int,
    hidden_dim: int = SHARED_M2["hidden_dim"],
    batch_size: int = 100,
    lr: float = 1e-3,
    seed: int | None = None,
) -> Classifier:
    """The same classifier as M2's q(y|x), trained on the labelled images alone (cross-entropy),
    for ``steps`` Adam steps on freshly binarized batches of them. The baseline M2 must beat.

    x: (N, input_dim) in [0, 1]; y: (N,) int64; labelled: (N,) bool.
    """
    check_positive_int("steps", steps)
    check_data(x, "x")
    labelled = check_labelled_mask(labelled, len(x))
    y = check_labels(y.masked_fill(~labelled, 0), "y", NUM_CLASSES, size=len(x))
    generator = seed_everything(resolve_seed(seed))
    net = Classifier(x.shape[1], hidden_dim, NUM_CLASSES)
    optimizer = make_optimizer(net, lr)
    x_l, y_l = x[labelled], y[labelled]
    batch_l = min(batch_size, len(x_l))
    for _ in range(steps):
        pick = torch.randperm(len(x_l), generator=generator)[:batch_l]
        batch = torch.bernoulli(x_l[pick], generator=generator)
        loss = F.cross_entropy(net(batch), y_l[pick])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    net.eval()
    return net


# --------------------------------------------------------------------------- shared models


def label_draw(train_y, labels_per_class: int, draw: int = 0, seed: int | None = None):
    """Indices of the labelled training images of one draw: ``labels_per_class`` per class.

    Draw d of the run's seed s uses the labels of lesson 07's seed 1000 * s + d (so with the
    default seed 0, draws 0, 1, 2 label the same images as lesson 07's seeds 0, 1, 2).
    """
    seed = resolve_seed(seed)
    return sample_labeled_indices(train_y, labels_per_class, seed=1000 * seed + int(draw))


def shared_m2(
    labels_per_class: int = 10,
    draw: int = 0,
    seed: int | None = None,
    source: str | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    **recipe,
):
    """An M2 model trained on the MNIST training images with ``labels_per_class`` labels per
    class (draw ``draw``), or loaded from the cache.

    seed: initial weights, noise and the label draw; None uses the run's seed, so another
    ``VAE_TUTORIAL_SEED`` trains (and caches) other models. recipe: overrides of
    :data:`SHARED_M2` (latent_dim, hidden_dim, alpha, epochs, batch_size, lr).
    Returns ``(model, history, labelled)``: the model in eval mode on the CPU, its
    :class:`History` (``history.seconds[-1]`` is the training time) and the boolean mask of
    the labelled training images.
    """
    unknown = set(recipe) - set(SHARED_M2)
    if unknown:
        raise ValueError(
            f"{sorted(unknown)} are not M2 recipe settings; use some of {sorted(SHARED_M2)}."
        )
    recipe = {**SHARED_M2, **recipe}
    check_positive_int("labels_per_class", labels_per_class)
    seed = resolve_seed(seed)
    data = load_mnist(source=source, binarize="dynamic", seed=seed)
    indices = label_draw(data.train_y, labels_per_class, draw, seed)
    labelled = labelled_mask(indices, len(data.train_x))
    config = {
        **recipe,
        "labels_per_class": labels_per_class,
        "draw": int(draw),
        "seed": seed,
        "source": data.source,
    }

    def build():
        torch.manual_seed(seed + 7919 * int(draw))  # the initial weights are part of the recipe
        return M2(latent_dim=recipe["latent_dim"], hidden_dim=recipe["hidden_dim"])

    def train(model):
        return train_m2(
            model,
            data.train_x,
            data.train_y,
            labelled,
            epochs=recipe["epochs"],
            alpha=recipe["alpha"],
            batch_size=recipe["batch_size"],
            lr=recipe["lr"],
            seed=seed + 7919 * int(draw),
            progress=progress,
            test_x=data.test_x,
            test_y=data.test_y,
        )

    name = f"m2-{labels_per_class}-per-class"
    model, history = train_or_load(name, build, train, config, cache_dir=cache_dir)
    return model.cpu(), history, labelled
