"""The lesson diagrams draw without error and return a figure with something on it."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vae_tutorial import diagrams  # noqa: E402


@pytest.mark.parametrize(
    "draw",
    [diagrams.generative_story, diagrams.encoder_decoder, diagrams.reparameterization_graphs],
)
def test_graph_diagrams_return_a_figure(draw):
    fig = draw()
    assert isinstance(fig, plt.Figure)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("phi" in t for t in texts), "the diagram names the encoder parameters"
    plt.close(fig)


def test_reparameterization_graph_shows_both_cases():
    fig = diagrams.reparameterization_graphs()
    assert len(fig.axes) == 2
    text = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "\\neq" in text, "the left graph states why the naive gradient fails"
    plt.close(fig)


def test_posterior_contours_draws_both_gaussians():
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    fig = diagrams.posterior_contours([0, 0], cov, [0, 0], np.sqrt(1 / np.diag(np.linalg.inv(cov))))
    assert len(fig.axes[0].collections) >= 2  # one contour set per Gaussian
    plt.close(fig)
    with pytest.raises(ValueError, match="2-D"):
        diagrams.posterior_contours([0, 0, 0], cov, [0, 0], [1, 1])


def test_elbo_kl_bars_stack_to_log_px():
    fig = diagrams.elbo_kl_bars(2.0, [2.0, 1.5, 0.5], [0.0, 0.5, 1.5], ["a", "b", "c"])
    ax = fig.axes[0]
    bars = ax.patches
    assert len(bars) == 6
    tops = [bars[i].get_y() + bars[i].get_height() for i in range(3, 6)]
    assert np.allclose(tops, 2.0), "each ELBO + KL bar ends at log p(x)"
    plt.close(fig)
    with pytest.raises(ValueError, match="one ELBO"):
        diagrams.elbo_kl_bars(0.0, [1.0], [1.0, 2.0], ["a"])
