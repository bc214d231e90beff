"""The reparameterization trick, change of variables, and the gradient estimators."""

import math

import pytest
import torch
from torch.distributions import Normal

from vae_tutorial import reparam

K_SE = 5
torch.set_default_dtype(torch.float32)


def test_reparameterize_and_change_of_variables_match_torch():
    mu = torch.randn(10, 5, dtype=torch.float64)
    log_sigma = torch.randn(10, 5, dtype=torch.float64)
    eps = torch.randn(10, 5, dtype=torch.float64)
    z = reparam.reparameterize(mu, log_sigma, eps)
    assert torch.allclose(z, mu + log_sigma.exp() * eps)
    expected = Normal(mu, log_sigma.exp()).log_prob(z).sum(-1)
    ours = reparam.log_q_via_change_of_variables(eps, log_sigma)
    assert torch.allclose(ours, expected, atol=1e-10)
    assert torch.allclose(reparam.log_standard_normal(eps), Normal(0.0, 1.0).log_prob(eps).sum(-1))


def test_log_det_jacobian_matches_autograd():
    mu = torch.randn(6, dtype=torch.float64)
    log_sigma = torch.randn(6, dtype=torch.float64)
    eps = torch.randn(6, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(
        lambda e: reparam.reparameterize(mu, log_sigma, e), eps
    )
    log_det = torch.linalg.slogdet(jacobian).logabsdet
    assert torch.allclose(log_det, reparam.log_det_jacobian(log_sigma), atol=1e-12)


def quadratic_case():
    """f(z) = sum (z - a)^2: E f = sum (mu - a)^2 + sigma^2, so the exact gradients are known."""
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    log_sigma = torch.tensor([0.0, -0.5, 0.3], dtype=torch.float64)
    a = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)

    def f(z):
        return (z - a).pow(2).sum(-1)

    exact = torch.cat([2 * (mu - a), 2 * (2 * log_sigma).exp()])
    return f, mu, log_sigma, exact


@pytest.mark.parametrize(
    "estimator, kwargs",
    [
        (reparam.score_function_gradient, {}),
        (reparam.score_function_gradient, {"baseline": True}),
        (reparam.pathwise_gradient, {}),
    ],
)
def test_estimators_are_unbiased(estimator, kwargs):
    f, mu, log_sigma, exact = quadratic_case()
    draws = reparam.gradient_samples(
        estimator, f, mu, log_sigma, num_samples=10, repeats=4000, seed=1, **kwargs
    )
    mean, se = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert ((mean - exact).abs() < K_SE * se + 1e-12).all(), (mean, exact, se)


def test_pathwise_has_the_lowest_variance_and_its_closed_form():
    f, mu, log_sigma, _ = quadratic_case()
    var = {}
    for name, est, kw in [
        ("score", reparam.score_function_gradient, {}),
        ("baseline", reparam.score_function_gradient, {"baseline": True}),
        ("pathwise", reparam.pathwise_gradient, {}),
    ]:
        var[name] = reparam.gradient_samples(est, f, mu, log_sigma, 10, 3000, seed=2, **kw).var(0)
    assert (var["pathwise"] < var["baseline"]).all() and (var["baseline"] < var["score"]).all()
    # pathwise gradient wrt mu is 2(z - a) averaged over S draws: variance 4 sigma^2 / S
    sigma2 = (2 * log_sigma).exp()
    assert torch.allclose(var["pathwise"][:3], 4 * sigma2 / 10, rtol=0.1)


def test_baseline_needs_two_samples():
    f, mu, log_sigma, _ = quadratic_case()
    with pytest.raises(ValueError, match="num_samples >= 2"):
        reparam.score_function_gradient(f, mu, log_sigma, 1, baseline=True)
