"""The VAE and the auto-encoder: interface, deterministic values, and errors on bad input."""

import math

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal, kl_divergence

from vae_tutorial.models import VAE, Autoencoder
from vae_tutorial.objectives import elbo


def zero_weights(model):
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_shapes_and_distribution_objects(arch):
    model = VAE(latent_dim=5, hidden_dim=32, arch=arch)
    x = torch.bernoulli(torch.rand(7, 784))
    q = model.encode(x)
    assert isinstance(q, Independent) and isinstance(q.base_dist, Normal)
    assert q.batch_shape == (7,) and q.event_shape == (5,)
    z = q.rsample((3,))
    p = model.decode(z)
    assert p.batch_shape == (3, 7) and p.event_shape == (784,)
    assert p.log_prob(x).shape == (3, 7)
    images = model.sample(4)
    assert images.shape == (4, 784) and 0 <= images.min() and images.max() <= 1
    ae = Autoencoder(latent_dim=5, hidden_dim=32, arch=arch)
    assert ae.encode(x).shape == (7, 5)


def test_vae_and_autoencoder_share_the_architecture():
    vae, ae = VAE(), Autoencoder()
    vae_sizes = [p.shape for p in vae.decoder.parameters()]
    assert vae_sizes == [p.shape for p in ae.decoder.parameters()]
    # the VAE's last encoder layer is twice as wide: it outputs mu and log sigma
    assert vae.encoder[-1].out_features == 2 * ae.encoder[-1].out_features


def test_zero_weights_give_known_values():
    model = zero_weights(VAE(latent_dim=4, hidden_dim=16))
    x = torch.bernoulli(torch.rand(6, 784))
    # zero logits: every pixel has probability 1/2
    log_px_z = model.decode(torch.randn(6, 4)).log_prob(x)
    assert torch.allclose(log_px_z, torch.full((6,), -784 * math.log(2)))
    # mu = 0, log sigma = 0: q(z|x) = p(z), so KL = 0 and the ELBO is exactly -784 log 2
    q = model.encode(x)
    assert torch.equal(kl_divergence(q, model.prior()), torch.zeros(6))
    assert torch.allclose(elbo(model, x), torch.full((6,), -784 * math.log(2)))
    assert torch.allclose(elbo(model, x, kl="mc"), torch.full((6,), -784 * math.log(2)))


def test_gaussian_likelihood_scores_grey_levels():
    model = VAE(latent_dim=3, hidden_dim=16, likelihood="gaussian")
    x = torch.rand(5, 784)
    out = model.decode(torch.zeros(5, 3))
    sigma = model.decoder_log_sigma.exp()
    expected = Normal(torch.sigmoid(model.decoder(torch.zeros(5, 3))), sigma).log_prob(x).sum(-1)
    assert torch.allclose(out.log_prob(x), expected, atol=1e-4)
    assert elbo(model, x).shape == (5,)


def test_autoencoder_has_no_prior():
    ae = Autoencoder(latent_dim=3, hidden_dim=8)
    with pytest.raises(ValueError, match="no prior"):
        ae.sample(3)
    with pytest.raises(ValueError, match="no prior"):
        elbo(ae, torch.zeros(2, 784))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"likelihood": "poisson"}, "likelihood"),
        ({"arch": "resnet"}, "arch"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"arch": "conv", "input_dim": 64}, "conv"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAE(**kwargs)


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.zeros(3, 28, 28), "shape"),
        (torch.zeros(3, 100), "784"),
        (torch.zeros(3, 784, dtype=torch.int64), "dtype"),
        (torch.full((3, 784), 2.0), "outside"),
        (torch.full((3, 784), 0.5), "Bernoulli"),
        (torch.full((3, 784), float("nan")), "NaN"),
        ([[0.0] * 784], "torch.Tensor"),
    ],
)
def test_bad_input_is_named(x, match):
    model = VAE(latent_dim=2, hidden_dim=8)
    with pytest.raises(ValueError, match=match) as info:
        elbo(model, x)
    assert "x" in str(info.value)


def test_decode_accepts_leading_sample_dimensions():
    model = VAE(latent_dim=3, hidden_dim=8, arch="conv")
    z = torch.randn(2, 4, 3)
    assert model.decode(z).batch_shape == (2, 4)
    assert torch.allclose(model.decode_mean(z)[1, 2], model.decode_mean(z[1, 2:3])[0])


def test_modules_are_plain_torch():
    assert isinstance(VAE(), nn.Module) and isinstance(Autoencoder(), nn.Module)
