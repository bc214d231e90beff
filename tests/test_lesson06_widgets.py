"""The widget wiring that lesson 06 relies on, tested headless with the lesson's own settings.

Lesson 06 shows each widget and states what it does ("setting a slider shows exactly the decoder's
image", "start from this image gives the reconstruction", ...). Those statements are about the
package's wiring, not about a trained model, so they are tested here on small untrained models
(fast, and the wiring is the same), and the lesson keeps its checks for claims about the model.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import torch
from PIL import Image

from vae_tutorial import widgets as W
from vae_tutorial.models import VAE

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def vae20():
    torch.manual_seed(0)
    return VAE(latent_dim=20, hidden_dim=32).eval()


@pytest.fixture(scope="module")
def vae2():
    torch.manual_seed(1)
    return VAE(latent_dim=2, hidden_dim=32).eval()


@pytest.fixture(scope="module")
def digits():
    generator = torch.Generator().manual_seed(2)
    x = torch.bernoulli(torch.full((60, 784), 0.2), generator=generator)
    y = np.arange(60) % 10
    return x, y


def decoded(model, code) -> np.ndarray:
    with torch.no_grad():
        z = torch.from_numpy(np.asarray(code, dtype=np.float32))[None]
        return model.decode_mean(z)[0].numpy().reshape(28, 28)


def test_decode_mean_is_the_mean_of_the_decoder_distribution(vae20):
    z = torch.randn(5, 20, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(vae20.decode_mean(z), vae20.decode(z).mean, atol=1e-6)


def test_a_slider_set_in_code_shows_the_decoded_code(vae20):
    probe = W.LatentExplorer(vae20)
    probe.sliders[4].value = 1.5
    expected = np.zeros(20, dtype=np.float32)
    expected[4] = 1.5
    assert np.array_equal(probe.code, expected)
    assert np.array_equal(probe.image, decoded(vae20, expected))


def test_two_sliders_of_a_2d_model_show_that_grid_point(vae2, digits):
    x, y = digits
    explorer = W.LatentExplorer(vae2, images=x, labels=y)
    explorer.sliders[0].value = -1.0
    explorer.sliders[1].value = 0.5
    assert np.array_equal(explorer.image, decoded(vae2, [-1.0, 0.5]))


def test_start_from_an_image_gives_its_reconstruction_and_reset_goes_to_zero(vae20, digits):
    x, y = digits
    mu = W.encode(vae20, x)
    reconstructions = W.decode(vae20, mu)
    explorer = W.LatentExplorer(vae20, images=x, labels=y, top_k=6)
    explorer.index.value = 3
    explorer.start_from(3)
    assert np.abs(mu[3]).max() < explorer.limit  # nothing clipped by the slider range
    assert np.allclose(explorer.code, mu[3], atol=1e-5)
    assert np.array_equal(explorer.image.reshape(-1), W.decode(vae20, explorer.code[None])[0])
    assert np.allclose(explorer.image.reshape(-1), reconstructions[3], atol=1e-5)
    explorer.reset()
    assert not explorer.code.any()


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolator_ends_at_the_two_reconstructions(vae20, digits, method):
    x, y = digits
    mu = W.encode(vae20, x)
    reconstructions = W.decode(vae20, mu)
    a, b = 2, 7
    interpolator = W.Interpolator(vae20, a, b, images=x, labels=y, steps=9, method="spherical")
    interpolator.method.value = method
    for t, index in ((0.0, a), (1.0, b)):
        interpolator.t.value = t
        assert np.array_equal(interpolator.code, interpolator.z[int(t)])  # exact endpoints
        assert np.allclose(interpolator.code, mu[index], atol=1e-5)
        assert np.allclose(interpolator.image.reshape(-1), reconstructions[index], atol=1e-5)
    assert np.allclose(interpolator.strip[0].reshape(-1), reconstructions[a], atol=1e-5)
    assert np.allclose(interpolator.strip[-1].reshape(-1), reconstructions[b], atol=1e-5)


def test_prior_sampler_draws_what_sample_draws_and_same_seed_same_grids(vae20):
    sampler = W.PriorSampler(vae20, n=32, ncols=8, seed=0)
    twin = W.PriorSampler(vae20, n=32, ncols=8, seed=0)
    reference = vae20.sample(32, generator=torch.Generator().manual_seed(0)).numpy()
    assert np.allclose(sampler.images.reshape(32, -1), reference, atol=1e-6)
    assert np.array_equal(sampler.images, twin.images)
    sampler.button.click()
    twin.button.click()
    assert np.array_equal(sampler.images, twin.images)
    assert not np.allclose(sampler.images.reshape(32, -1), reference, atol=1e-6)


def test_every_view_of_the_lesson_offers_a_static_picture(vae20, vae2, digits):
    x, y = digits
    vector = np.ones(20, dtype=np.float32)
    views = [
        W.LatentExplorer(vae2, images=x, labels=y),
        W.LatentExplorer(vae20, images=x, labels=y, top_k=6),
        W.Interpolator(vae20, 2, 7, images=x, labels=y, steps=9),
        W.PriorSampler(vae20, n=32, ncols=8, seed=0),
        W.AttributeSlider(vae20, x, {"ones": vector, "twos": 2 * vector}, labels=y, index=1),
    ]
    for view in views:
        bundle = view._repr_mimebundle_()
        picture = Image.open(io.BytesIO(base64.b64decode(bundle["image/png"])))
        assert picture.size[0] > 100 and WIDGET_MIME in bundle
