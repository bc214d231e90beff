"""The latent-space diagrams draw what their docstrings say."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_tutorial import figures_latent  # noqa: E402
from vae_tutorial.models import VAE  # noqa: E402


def test_aggregate_diagram_mixture_has_the_total_variance_in_its_legend():
    means, std = np.array([-1.0, 0.0, 2.0]), 0.5
    fig = figures_latent.aggregate_posterior_diagram(means=means, std=std)
    mixture = fig.axes[0].lines[len(means)]
    z, density = mixture.get_xdata(), mixture.get_ydata()
    dz = z[1] - z[0]
    mass = density.sum() * dz
    mean = (z * density).sum() * dz
    variance = ((z - mean) ** 2 * density).sum() * dz
    assert mass == pytest.approx(1, abs=1e-3)
    assert variance == pytest.approx(std**2 + means.var(), rel=1e-3)
    assert f"{std**2 + means.var():.2f}" in mixture.get_label()
    plt.close(fig)


def test_shell_diagram_density_integrates_to_one_and_peaks_near_sqrt_dim():
    fig = figures_latent.shell_diagram(dim=20)
    line = fig.axes[0].lines[0]
    r, density = line.get_xdata(), line.get_ydata()
    assert density.sum() * (r[1] - r[0]) == pytest.approx(1, abs=1e-3)
    assert abs(r[density.argmax()] - np.sqrt(19)) < 0.05  # the chi mode is sqrt(dim - 1)
    plt.close(fig)


def test_importance_sampling_diagram_draws_one_stem_per_sample():
    fig = figures_latent.importance_sampling_diagram(num_samples=7)
    assert len(fig.axes[0].collections[0].get_segments()) == 7
    plt.close(fig)


def test_manifold_over_box_decodes_the_box_corners():
    torch.manual_seed(0)
    model = VAE(latent_dim=2, hidden_dim=16).eval()
    fig = figures_latent.manifold_over_box(model, [-3, -1], [5, 2], n=4)
    assert "-3.00" in fig.axes[0].get_xlabel() and "5.00" in fig.axes[0].get_xlabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="latent_dim=2"):
        figures_latent.manifold_over_box(VAE(latent_dim=3, hidden_dim=16), [0, 0], [1, 1])
