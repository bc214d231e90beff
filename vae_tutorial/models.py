"""The VAE and a plain auto-encoder built from the same encoder and decoder networks.

Shapes: x is (batch, input_dim) with input_dim = 784 for MNIST; z is (..., latent_dim).
``encode`` and ``decode`` return ``torch.distributions`` objects, so the ELBO in code reads
like the ELBO on the page: ``decode(z).log_prob(x)`` is log p_theta(x|z).
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal

from ._checks import check_choice, check_data, check_positive_int

LIKELIHOODS = ("bernoulli", "gaussian")
ARCHS = ("mlp", "conv")


def mlp_encoder(input_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim)
    )


def mlp_decoder(latent_dim: int, hidden_dim: int, output_dim: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim)
    )


def conv_encoder(hidden_dim: int, out_dim: int) -> nn.Sequential:
    """28x28 images -> 14x14 -> 7x7 feature maps -> hidden -> out."""
    return nn.Sequential(
        nn.Unflatten(1, (1, 28, 28)),
        nn.Conv2d(1, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, out_dim),
    )


def conv_decoder(latent_dim: int, hidden_dim: int) -> nn.Sequential:
    """The mirror image of :func:`conv_encoder`; outputs 784 values per code."""
    return nn.Sequential(
        nn.Linear(latent_dim, hidden_dim),
        nn.ReLU(),
        nn.Linear(hidden_dim, 64 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (64, 7, 7)),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),
        nn.Flatten(),
    )


class _EncoderDecoder(nn.Module):
    """What the VAE and the auto-encoder share: the decoder p_theta(x|z) and input checks."""

    outputs_per_latent = 1  # encoder outputs per latent dimension

    def __init__(
        self,
        latent_dim: int = 20,
        hidden_dim: int = 400,
        likelihood: str = "bernoulli",
        arch: str = "mlp",
        input_dim: int = 784,
    ):
        super().__init__()
        check_positive_int("latent_dim", latent_dim)
        check_positive_int("hidden_dim", hidden_dim)
        check_positive_int("input_dim", input_dim)
        check_choice("likelihood", likelihood, LIKELIHOODS)
        check_choice("arch", arch, ARCHS)
        if arch == "conv" and input_dim != 784:
            raise ValueError(
                f"arch='conv' is built for 28x28 images (input_dim=784), got input_dim="
                f"{input_dim}; use arch='mlp' for other sizes."
            )
        self.latent_dim = latent_dim
        self.hidden_dim = hidden_dim
        self.likelihood = likelihood
        self.arch = arch
        self.input_dim = input_dim
        encoder_outputs = self.outputs_per_latent * latent_dim
        if arch == "mlp":
            self.encoder = mlp_encoder(input_dim, hidden_dim, encoder_outputs)
            self.decoder = mlp_decoder(latent_dim, hidden_dim, input_dim)
        else:
            self.encoder = conv_encoder(hidden_dim, encoder_outputs)
            self.decoder = conv_decoder(latent_dim, hidden_dim)
        if likelihood == "gaussian":
            # One learned noise level per pixel, shared by all images.
            self.decoder_log_sigma = nn.Parameter(torch.full((input_dim,), math.log(0.1)))

    def config(self) -> dict:
        """The constructor arguments, to rebuild the same model (e.g. from a checkpoint)."""
        return {
            "latent_dim": self.latent_dim,
            "hidden_dim": self.hidden_dim,
            "likelihood": self.likelihood,
            "arch": self.arch,
            "input_dim": self.input_dim,
        }

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def check_input(self, x: torch.Tensor, name: str = "x", allow_grey: bool = False):
        """Raise a clear ValueError unless x is (batch, input_dim) data this model can score.

        allow_grey: accept grey levels for a Bernoulli model (a trainer that binarizes them).
        """
        binary = self.likelihood == "bernoulli" and not allow_grey
        return check_data(x, name, dim=self.input_dim, binary=binary)

    def decoder_logits(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder network's raw output per pixel, (..., input_dim): Bernoulli logits, or
        the pre-sigmoid means of a Gaussian decoder."""
        out = self.decoder(z.reshape(-1, self.latent_dim))
        return out.reshape(*z.shape[:-1], self.input_dim)

    def decode_mean(self, z: torch.Tensor) -> torch.Tensor:
        """The expected image E[x|z]: pixel probabilities or grey-level means, (..., input_dim)."""
        return torch.sigmoid(self.decoder_logits(z))

    def decoder_output(self, z: torch.Tensor) -> torch.Tensor:
        """What p(x|z) is built from: logits (Bernoulli) or means (Gaussian), (..., input_dim)."""
        bernoulli = self.likelihood == "bernoulli"
        return self.decoder_logits(z) if bernoulli else self.decode_mean(z)

    def decode(self, z: torch.Tensor) -> Independent:
        """p_theta(x|z) for z: (..., latent_dim); its event has shape (input_dim,)."""
        if self.likelihood == "bernoulli":
            return Independent(Bernoulli(logits=self.decoder_logits(z), validate_args=False), 1)
        mean = self.decode_mean(z)
        sigma = self.decoder_log_sigma.clamp(min=math.log(1e-3)).exp().expand_as(mean)
        return Independent(Normal(mean, sigma, validate_args=False), 1)


class VAE(_EncoderDecoder):
    """A variational auto-encoder with a diagonal-Gaussian encoder and prior p(z) = N(0, I).

    latent_dim: size of z. hidden_dim: width of the hidden layer(s).
    likelihood: ``"bernoulli"`` for binary pixels, ``"gaussian"`` for grey levels.
    arch: ``"mlp"`` (input -> hidden -> z) or ``"conv"`` (two strided convolutions, 28x28 only).
    """

    outputs_per_latent = 2  # one output layer gives mu and log sigma together

    def encoder_params(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log_sigma) = EncoderNeuralNet_phi(x); each (batch, latent_dim)."""
        mu, log_sigma = self.encoder(x).chunk(2, dim=-1)
        return mu, log_sigma

    def encode(self, x: torch.Tensor) -> Independent:
        """q_phi(z|x) = N(z; mu, diag sigma^2), batch shape (batch,), event shape (latent_dim,)."""
        mu, log_sigma = self.encoder_params(x)
        return Independent(Normal(mu, log_sigma.exp(), validate_args=False), 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """A point code per image, the posterior mean mu: (batch, latent_dim)."""
        return self.encoder_params(x)[0]

    def prior(self) -> Independent:
        """p(z) = N(0, I) on this model's device."""
        zeros = torch.zeros(self.latent_dim, device=self.device)
        return Independent(Normal(zeros, torch.ones_like(zeros), validate_args=False), 1)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Decode n prior draws z ~ N(0, temperature^2 I); returns E[x|z], (n, input_dim)."""
        check_positive_int("n", n)
        # draw on the CPU so a CPU generator works for a model on any device
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode_mean(temperature * z)

    def forward(self, x: torch.Tensor):
        q = self.encode(x)
        z = q.rsample()
        return q, z, self.decode(z)


class Autoencoder(_EncoderDecoder):
    """A plain auto-encoder with the VAE's networks: x -> a point code z -> p_theta(x|z).

    Trained by maximising log p_theta(x|z) (the reconstruction term only): no prior, no KL.
    """

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code z = Encoder(x): one point, (batch, latent_dim)."""
        return self.encoder(x)

    embed = encode

    def prior(self):
        raise ValueError(
            "An Autoencoder has no prior p(z), so it cannot sample or be scored by an ELBO; use "
            "a VAE, or decode codes you choose with decode_mean(z)."
        )

    def sample(self, n: int, *args, **kwargs):
        self.prior()

    def forward(self, x: torch.Tensor):
        z = self.encode(x)
        return z, self.decode(z)


@contextlib.contextmanager
def frozen(*modules):
    """Within the block the modules' parameters get no gradients; afterwards they are restored.

    For optimising inputs (codes, per-image posteriors) through fixed networks.
    """
    parameters = [p for m in modules for p in getattr(m, "parameters", list)()]
    saved = [p.requires_grad for p in parameters]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(parameters, saved, strict=True):
            p.requires_grad_(flag)
