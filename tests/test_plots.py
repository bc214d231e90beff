"""Every plotting helper returns a matplotlib figure with what it promises."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from vae_tutorial import plots  # noqa: E402
from vae_tutorial.models import VAE  # noqa: E402
from vae_tutorial.training import History  # noqa: E402


def test_image_grid_places_every_image():
    images = torch.rand(12, 784)
    fig = plots.image_grid(images, ncols=5, title="t", titles=list(range(12)))
    assert isinstance(fig, Figure)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (3 * 30, 5 * 30)
    assert abs(canvas[1:29, 1:29] - images[0].reshape(28, 28).numpy()).max() < 1e-6


def test_scatter_tsne_manifold_and_curves():
    codes = torch.randn(60, 2)
    labels = torch.arange(60) % 10
    assert isinstance(plots.latent_scatter(codes, labels, title="codes"), Figure)
    embedded = plots.tsne(torch.randn(60, 5), perplexity=10)
    assert embedded.shape == (60, 2)
    fig = plots.manifold_2d(VAE(latent_dim=2, hidden_dim=8), n=5)
    assert fig.axes[0].images[0].get_array().shape == (5 * 30, 5 * 30)
    with pytest.raises(ValueError, match="latent_dim=2"):
        plots.manifold_2d(VAE(latent_dim=3, hidden_dim=8))
    fig = plots.training_curves({"a": History("elbo", [-3.0, -2.0], [-3.5, -2.5], [1, 2])})
    assert len(fig.axes[0].lines) == 2
