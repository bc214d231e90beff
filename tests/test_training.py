"""fit: learns, is seeded, binarizes grey pixels afresh, and refuses bad arguments."""

import math

import pytest
import torch

from vae_tutorial.models import VAE, Autoencoder
from vae_tutorial.training import default_device, fit


@pytest.fixture(scope="module")
def small(mnist):
    return mnist.train_x[:600], mnist.test_x[:200]


def test_fit_raises_the_elbo_and_records_history(small):
    x, test_x = small
    model = VAE(latent_dim=5, hidden_dim=64)
    history = fit(model, x, epochs=4, test_x=test_x, progress=False)
    assert history.epochs == 4 and len(history.test) == 4 and len(history.seconds) == 4
    assert history.train_elbo[-1] > history.train_elbo[0]
    # an untrained Bernoulli decoder scores about -784 log 2 = -543 nats; training beats that
    assert history.test_elbo[-1] > -784 * math.log(2) + 100
    assert all(b >= a for a, b in zip(history.seconds, history.seconds[1:]))


def test_fit_is_seeded(small):
    x, test_x = small

    def run(seed):
        torch.manual_seed(9)  # the initial weights are the model's; fit seeds the rest
        model = VAE(latent_dim=3, hidden_dim=32)
        history = fit(model, x, epochs=2, seed=seed, progress=False, test_x=test_x)
        return history.train + history.test

    first = run(5)
    assert first == run(5)
    assert first != run(6)


def test_dynamic_binarization_draws_new_pixels_each_epoch(small):
    x, _ = small
    seen = []
    model = VAE(latent_dim=2, hidden_dim=16)

    def recording_objective(m, batch):
        seen.append(batch.clone())
        from vae_tutorial.objectives import elbo

        return elbo(m, batch)

    fit(model, x[:64], epochs=2, batch_size=64, objective=recording_objective, progress=False)
    first, second = seen
    assert ((first == 0) | (first == 1)).all()
    assert not torch.equal(first, second)  # same images, fresh pixels
    # binary data stay as they are: drawing from {0,1} probabilities is a no-op
    binary = torch.bernoulli(x[:64])
    seen.clear()
    fit(model, binary, epochs=2, batch_size=64, objective=recording_objective, progress=False)
    order = [b.sum(1).sort().values for b in seen]
    assert torch.equal(order[0], order[1])


def test_autoencoder_trains_on_reconstruction(small):
    x, test_x = small
    history = fit(
        Autoencoder(latent_dim=5, hidden_dim=64), x, epochs=2, test_x=test_x, progress=False
    )
    assert history.objective == "reconstruction_log_likelihood"
    with pytest.raises(ValueError, match="not the ELBO"):
        _ = history.train_elbo


def test_callback_sees_every_epoch(small):
    x, _ = small
    calls = []
    fit(
        VAE(latent_dim=2, hidden_dim=16),
        x,
        epochs=3,
        progress=False,
        callback=lambda epoch, model, history: calls.append((epoch, history.epochs)),
    )
    assert calls == [(1, 1), (2, 2), (3, 3)]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"lr": -1.0}, "lr")],
)
def test_bad_arguments(small, kwargs, match):
    x, _ = small
    args = {"epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit(VAE(latent_dim=2, hidden_dim=8), x, progress=False, **args)


def test_grey_test_data_for_a_bernoulli_model_is_refused(small, mnist_grey):
    x, _ = small
    with pytest.raises(ValueError, match="test_x"):
        fit(VAE(latent_dim=2, hidden_dim=8), x, epochs=1, test_x=mnist_grey.test_x, progress=False)


def test_device_choice():
    device = default_device()
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert device.type == expected
    assert device.type in {"cuda", "mps", "cpu"}
