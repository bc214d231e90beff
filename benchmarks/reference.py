"""The plain baselines the benchmarks measure the package against, and the FLOP count.

* ``ExampleStyleVAE`` and ``train_reference``: a VAE trained the way the official
  pytorch/examples VAE (``vae/main.py``) is written: separate linear layers for mu and the log
  variance, a sigmoid decoder scored by ``F.binary_cross_entropy(reduction="sum")`` plus the
  closed-form KL, a ``DataLoader`` over a ``TensorDataset`` with ``shuffle=True``, plain Adam.
  Pixels are binarized afresh for every batch, so it sees the same data as ``training.fit``.
* ``log_px_sample_by_sample``: importance-sampled log p(x) written as a loop over samples, one
  sample at a time for a whole batch of images, with ``logsumexp`` at the end. It draws the same
  random numbers as ``likelihood.log_marginal_likelihood`` with the same seed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from vae_tutorial.models import VAE


class ExampleStyleVAE(nn.Module):
    """784-400-20 VAE in the pytorch/examples layout: fc1, fc21 (mu), fc22 (log var), fc3, fc4."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20):
        super().__init__()
        self.input_dim = input_dim
        self.fc1 = nn.Linear(input_dim, hidden_dim)
        self.fc21 = nn.Linear(hidden_dim, latent_dim)
        self.fc22 = nn.Linear(hidden_dim, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden_dim)
        self.fc4 = nn.Linear(hidden_dim, input_dim)

    def encode(self, x):
        """x: (batch, 784) -> mu, log variance: (batch, latent_dim) each."""
        hidden = F.relu(self.fc1(x))
        return self.fc21(hidden), self.fc22(hidden)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        """z: (batch, latent_dim) -> pixel probabilities (batch, 784)."""
        return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, self.input_dim))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def example_loss(recon_x, x, mu, logvar):
    """Negative ELBO summed over the batch: BCE reconstruction + KL(q(z|x) || N(0, I))."""
    bce = F.binary_cross_entropy(recon_x, x.view(-1, recon_x.shape[-1]), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def make_loader(train_x: torch.Tensor, batch_size: int = 128, seed: int = 0) -> DataLoader:
    """A shuffling DataLoader over the grey-level images, as the examples build theirs."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(train_x), batch_size=batch_size, shuffle=True, generator=generator
    )


def train_one_epoch(model, loader, optimizer, device="cpu") -> float:
    """One pass over the loader; returns the mean loss per image (nats, = minus the ELBO)."""
    model.train()
    train_loss = 0.0
    for (data,) in loader:
        # Dynamic binarization: fresh black/white pixels for every batch.
        data = torch.bernoulli(data.to(device))
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = example_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(loader.dataset)


def train_reference(
    train_x: torch.Tensor,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    model: ExampleStyleVAE | None = None,
):
    """Train an ``ExampleStyleVAE`` for ``epochs``; returns (model, per-epoch mean losses)."""
    torch.manual_seed(seed)
    model = (model or ExampleStyleVAE(input_dim=train_x.shape[1])).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = make_loader(train_x, batch_size, seed)
    losses = [train_one_epoch(model, loader, optimizer, device) for _ in range(epochs)]
    return model, losses


@torch.no_grad()
def to_vae(reference: ExampleStyleVAE) -> VAE:
    """The same network as a ``vae_tutorial`` VAE, so both are scored by the same code.

    The package's encoder has one output layer giving (mu, log sigma); log sigma = log var / 2.
    """
    latent_dim = reference.fc21.out_features
    model = VAE(
        latent_dim=latent_dim,
        hidden_dim=reference.fc1.out_features,
        input_dim=reference.fc1.in_features,
    )
    model.encoder[0].load_state_dict(reference.fc1.state_dict())
    model.encoder[2].weight.copy_(torch.cat([reference.fc21.weight, 0.5 * reference.fc22.weight]))
    model.encoder[2].bias.copy_(torch.cat([reference.fc21.bias, 0.5 * reference.fc22.bias]))
    model.decoder[0].load_state_dict(reference.fc3.state_dict())
    model.decoder[2].load_state_dict(reference.fc4.state_dict())
    return model.to(reference.fc1.weight.device).eval()


@torch.no_grad()
def log_px_sample_by_sample(
    model, x: torch.Tensor, num_samples: int, images_per_batch: int = 100, seed: int = 0
):
    """Importance-sampled log p(x) by a plain loop: one sample z_l at a time for a whole batch.

    x: (N, 784) in {0, 1} -> (log_px (N,), stderr (N,)).
    For each batch of images: draw z_l ~ q(z|x) for all of them, keep
    log w_l = log p(x|z_l) + log p(z_l) - log q(z_l|x), and after the L samples return
    logsumexp(log w) - log L. With the same seed and batches this consumes the same random
    numbers as ``log_marginal_likelihood`` (when images_per_batch * latent_dim is a multiple of
    16, which is how torch's CPU normal sampler blocks its draws).
    """
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    log_px, stderr = [], []
    try:
        for start in range(0, len(x), images_per_batch):
            batch = x[start : start + images_per_batch].to(model.device)
            q = model.encode(batch)
            prior = model.prior()
            log_weights = []
            for _ in range(num_samples):
                z = q.sample()
                log_w = model.decode(z).log_prob(batch) + prior.log_prob(z) - q.log_prob(z)
                log_weights.append(log_w)
            log_w = torch.stack(log_weights)  # (num_samples, batch)
            log_sum_w = torch.logsumexp(log_w, 0)
            log_px.append(log_sum_w - math.log(num_samples))
            # Standard error from the same weights: sqrt((mean(w^2) / mean(w)^2 - 1) / L).
            ratio = torch.exp(torch.logsumexp(2 * log_w, 0) - 2 * log_sum_w) * num_samples
            stderr.append(torch.sqrt(torch.clamp(ratio - 1, min=0) / num_samples))
    finally:
        torch.random.set_rng_state(state)
    return torch.cat(log_px).cpu(), torch.cat(stderr).cpu()


def linear_shapes(input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20):
    """(in, out) of the matrix products of the MLP VAE, first layer first (mu, log sigma as one)."""
    return [
        (input_dim, hidden_dim),
        (hidden_dim, 2 * latent_dim),
        (latent_dim, hidden_dim),
        (hidden_dim, input_dim),
    ]


def training_flops_per_sample(input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20):
    """Matrix-multiply FLOPs of one training step, per image (forward + backward).

    A linear layer with an (in x out) weight costs 2 * in * out FLOPs per image forward, as much
    again for its weight gradient, and as much again for the gradient of its input, except the
    first layer, whose input (the data) needs no gradient. Element-wise work is not counted.
    For 784-400-20: 2P + 2P + 2(P - 784*400) = 3,280,000 with P = 651,200 weights, 16% less than
    the rule of thumb 6P = 3,907,200.
    """
    shapes = linear_shapes(input_dim, hidden_dim, latent_dim)
    weights = sum(i * o for i, o in shapes)
    first = shapes[0][0] * shapes[0][1]
    return 2 * weights + 2 * weights + 2 * (weights - first)


def linear_weights(input_dim: int = 784, hidden_dim: int = 400, latent_dim: int = 20) -> int:
    """P, the number of weights in the linear layers (biases not counted)."""
    return sum(i * o for i, o in linear_shapes(input_dim, hidden_dim, latent_dim))
