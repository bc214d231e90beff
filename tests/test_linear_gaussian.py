"""The exact linear-Gaussian model: scikit-learn's PCA as oracle, and the article's identities."""

import math

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch.distributions import Independent, MultivariateNormal, Normal

from vae_tutorial.likelihood import log_marginal_likelihood
from vae_tutorial.linear_gaussian import LinearEncoder, LinearGaussian, fit_ppca
from vae_tutorial.objectives import elbo, iwae_bound

K_SE = 5
DT = torch.float64


@pytest.fixture(scope="module")
def ppca(mnist_grey):
    return fit_ppca(mnist_grey.train_x, 10)


def random_diagonal_q(batch, k, generator):
    mean = torch.randn(batch, k, generator=generator, dtype=DT)
    scale = 0.05 + torch.rand(batch, k, generator=generator, dtype=DT)
    return Independent(Normal(mean, scale), 1)


def random_full_q(batch, k, generator):
    mean = torch.randn(batch, k, generator=generator, dtype=DT)
    a = torch.randn(batch, k, k, generator=generator, dtype=DT) / math.sqrt(k)
    cov = a @ a.transpose(-1, -2) + 0.05 * torch.eye(k, dtype=DT)
    return MultivariateNormal(mean, covariance_matrix=cov)


@pytest.mark.parametrize("k", [2, 10, 30])
def test_log_marginal_matches_scikit_learn(mnist_grey, k):
    x_train = mnist_grey.train_x.numpy().astype(np.float64)
    x_test = mnist_grey.test_x.numpy().astype(np.float64)
    # "full" is the exact SVD; the default "auto" may pick a randomized, approximate one
    reference = PCA(n_components=k, svd_solver="full").fit(x_train).score_samples(x_test)
    ours = fit_ppca(mnist_grey.train_x, k).log_marginal(mnist_grey.test_x).detach().numpy()
    relative = np.abs(ours - reference) / np.abs(reference)
    assert relative.max() < 1e-5, relative.max()


def test_posterior_matches_gaussian_conditioning(ppca, mnist_grey):
    """p(z|x) from the joint Gaussian of (z, x), computed independently of the model's formula."""
    x = mnist_grey.test_x[:4].to(DT)
    w, b, s2 = ppca.weight.detach(), ppca.bias.detach(), ppca.sigma2.detach()
    cov_xx = w @ w.T + s2 * torch.eye(784, dtype=DT)
    gain = torch.linalg.solve(cov_xx, w).T  # Cov(z, x) Cov(x, x)^-1
    mean = (gain @ (x - b).T).T
    cov = torch.eye(10, dtype=DT) - gain @ w
    post = ppca.posterior(x)
    assert torch.allclose(post.mean, mean, atol=1e-8)
    assert torch.allclose(post.covariance_matrix[0], cov, atol=1e-8)


@pytest.mark.parametrize("family", [random_diagonal_q, random_full_q])
def test_log_px_equals_elbo_plus_kl_for_random_q(ppca, mnist_grey, family):
    generator = torch.Generator().manual_seed(0)
    x = mnist_grey.test_x[:200]
    q = family(200, 10, generator)
    with torch.no_grad():
        log_px = ppca.log_marginal(x)
        bound = ppca.elbo_closed_form(x, q)
        gap = ppca.kl_to_posterior(x, q)
    assert (log_px - (bound + gap)).abs().max() < 1e-6
    assert (bound <= log_px).all() and (gap >= 0).all()
    # with the exact posterior the gap closes
    with torch.no_grad():
        assert (ppca.log_marginal(x) - ppca.elbo_closed_form(x)).abs().max() < 1e-6


def shifted_posterior(model, shift=0.1, scale=0.3):
    """An encoder that misses the exact posterior by a known amount (a valid, imperfect q)."""

    def encoder(xs):
        mean = model.posterior(xs).mean + shift
        return Independent(Normal(mean, torch.full_like(mean, scale)), 1)

    return encoder


@pytest.mark.parametrize("kl", ["analytic", "mc"])
def test_monte_carlo_elbo_agrees_with_the_closed_form(ppca, mnist_grey, kl):
    x = mnist_grey.test_x[:3]
    draws_per_image = 2000
    ppca.encoder = shifted_posterior(ppca)
    try:
        with torch.no_grad():
            # row r * 3 + i of the repeated batch is image i
            draws = elbo(ppca, x.repeat(draws_per_image, 1), kl=kl).reshape(-1, 3)
            exact = ppca.elbo_closed_form(x)
    finally:
        ppca.encoder = None
    se = draws.std(0) / math.sqrt(draws_per_image)
    assert ((draws.mean(0) - exact).abs() < K_SE * se).all()
    assert (exact < ppca.log_marginal(x).detach()).all()


def test_iwae_bounds_sit_between_elbo_and_log_px_and_rise_with_k(ppca, mnist_grey):
    x = mnist_grey.test_x[:5]
    # a deliberately poor encoder: right mean, too-narrow spread, so the bounds are far apart
    ppca.encoder = lambda xs: Independent(
        Normal(ppca.posterior(xs).mean, torch.full((len(xs), 10), 0.02, dtype=DT)), 1
    )
    try:
        with torch.no_grad():
            log_px = ppca.log_marginal(x)
            bound = ppca.elbo_closed_form(x)
            means, ses = [], []
            for k in (1, 4, 16, 64):
                draws = torch.stack([iwae_bound(ppca, x, k) for _ in range(200)])
                means.append(draws.mean(0))
                ses.append(draws.std(0) / math.sqrt(200))
    finally:
        ppca.encoder = None
    assert ((means[0] - bound).abs() < K_SE * ses[0]).all()  # L_1 is the ELBO
    for lower, upper, se in zip(means, means[1:], ses[1:]):
        assert (upper > lower - K_SE * se).all()
    assert (means[-1] < log_px + K_SE * ses[-1]).all()
    assert (means[-1] - means[0] > 0).all()


def test_importance_sampling_with_exact_posterior_is_exact(ppca, mnist_grey):
    x = mnist_grey.test_x[:20]
    est = log_marginal_likelihood(ppca, x, num_samples=50)
    with torch.no_grad():
        assert (est.log_px - ppca.log_marginal(x)).abs().max() < 1e-8
    assert est.stderr.max() < 1e-6


def test_importance_sampling_with_a_worse_q_converges(ppca, mnist_grey):
    x = mnist_grey.test_x[:10]
    ppca.encoder = lambda xs: Independent(
        Normal(ppca.posterior(xs).mean + 0.05, torch.full((len(xs), 10), 0.1, dtype=DT)), 1
    )
    try:
        with torch.no_grad():
            exact = ppca.log_marginal(x)
        errors = {}
        for L in (10, 10000):
            est = log_marginal_likelihood(ppca, x, num_samples=L, seed=L)
            errors[L] = (est.log_px - exact).abs()
            if L == 10000:
                assert (errors[L] < K_SE * est.stderr + 1e-9).all()
    finally:
        ppca.encoder = None
    assert errors[10000].mean() < errors[10].mean()


def test_training_with_an_amortized_encoder_raises_log_px(mnist_grey):
    from vae_tutorial.training import fit

    x = mnist_grey.train_x[:500, :100]  # a small slice of pixels keeps this quick
    model = LinearGaussian(100, 3, encoder=LinearEncoder(100, 3))
    with torch.no_grad():
        before = model.log_marginal(x).mean().item()
    fit(model, x, epochs=30, lr=1e-2, progress=False)
    with torch.no_grad():
        after = model.log_marginal(x).mean().item()
        gap = model.kl_to_posterior(x).mean().item()
    assert after > before and gap >= 0


def test_bad_input(ppca):
    with pytest.raises(ValueError, match="784"):
        ppca.log_marginal(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="latent_dim"):
        fit_ppca(torch.rand(20, 5), 5)
