"""Flow posteriors: log-determinants against autograd, densities against torch.distributions."""

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

from vae_tutorial.flows import (
    FlowPosterior,
    PlanarFlow,
    TriangularAffine,
    fit_posterior,
    flow_elbo,
    log_abs_det_autograd,
)
from vae_tutorial.linear_gaussian import LinearGaussian

D = torch.float64


def random_triangular(dim, seed=0, batch_shape=()):
    generator = torch.Generator().manual_seed(seed)
    flow = TriangularAffine(dim, batch_shape=batch_shape, dtype=D)
    with torch.no_grad():
        for p in flow.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=generator, dtype=D))
    return flow


def test_triangular_log_det_matches_autograd():
    flow = random_triangular(4, seed=1)
    z = torch.randn(4, dtype=D)
    _, log_det = flow(z)
    assert abs(log_det.item() - log_abs_det_autograd(flow, z).item()) < 1e-10


def test_triangular_is_the_full_covariance_gaussian():
    flow = random_triangular(3, seed=2)
    eps = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=D)
    z, log_det = flow(eps)
    log_q = Independent(Normal(torch.zeros(3, dtype=D), 1.0), 1).log_prob(eps) - log_det
    oracle = MultivariateNormal(flow.loc, scale_tril=flow.scale_tril()).log_prob(z)
    assert torch.allclose(log_q, oracle, atol=1e-10)
    assert torch.allclose(flow.inverse(z), eps, atol=1e-10)


def test_triangular_batches_are_independent_maps():
    flow = random_triangular(3, seed=3, batch_shape=(5,))
    eps = torch.randn(7, 5, 3, dtype=D)
    z, log_det = flow(eps)
    assert z.shape == (7, 5, 3) and log_det.shape == (7, 5)
    single = TriangularAffine(3, dtype=D)
    with torch.no_grad():
        single.loc.copy_(flow.loc[2])
        single.log_diag.copy_(flow.log_diag[2])
        single.off_diagonal.copy_(flow.off_diagonal[2])
    z2, log_det2 = single(eps[:, 2])
    assert torch.allclose(z[:, 2], z2) and torch.allclose(log_det[:, 2], log_det2)


def test_set_gaussian_round_trip_and_rejects_bad_factor():
    cov = torch.tensor([[2.0, 0.6], [0.6, 1.0]], dtype=D)
    tril = torch.linalg.cholesky(cov)
    flow = TriangularAffine(2, dtype=D).set_gaussian(torch.tensor([1.0, -1.0], dtype=D), tril)
    assert torch.allclose(flow.scale_tril(), tril)
    with pytest.raises(ValueError, match="positive diagonal"):
        flow.set_gaussian(torch.zeros(2, dtype=D), -tril)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planar_log_det_matches_autograd(seed):
    flow = PlanarFlow(5, seed=seed, dtype=D)
    with torch.no_grad():
        flow.u.mul_(20)  # a strongly non-linear map, far from the identity
        flow.w.mul_(10)
        flow.b.fill_(0.3)
    generator = torch.Generator().manual_seed(seed + 10)
    for _ in range(3):
        z = torch.randn(5, generator=generator, dtype=D)
        _, log_det = flow(z)
        assert abs(log_det.item() - log_abs_det_autograd(flow, z).item()) < 1e-8


def test_planar_stays_invertible_when_u_points_against_w():
    flow = PlanarFlow(3, dtype=D)
    with torch.no_grad():
        flow.w.copy_(torch.tensor([1.0, 0.0, 0.0], dtype=D))
        flow.u.copy_(torch.tensor([-5.0, 1.0, 0.0], dtype=D))
    assert (flow.w * flow.u).sum() < -1  # raw u would make the map fold over
    assert (flow.w * flow.u_hat()).sum() > -1
    # Strictly increasing along w, hence one-to-one there.
    t = torch.linspace(-5, 5, 201, dtype=D)
    moved, _ = flow(t[:, None] * flow.w)
    assert (moved[:, 0].diff() > 0).all()


def test_flow_posterior_without_flows_is_the_diagonal_gaussian():
    mu = torch.tensor([[0.5, -1.0], [0.0, 2.0]], dtype=D)
    log_sigma = torch.tensor([[0.1, -0.3], [0.2, 0.0]], dtype=D)
    q = FlowPosterior(mu, log_sigma)
    z, log_q = q.rsample_with_log_prob(6, generator=torch.Generator().manual_seed(0))
    oracle = Independent(Normal(mu, log_sigma.exp()), 1).log_prob(z)
    assert z.shape == (6, 2, 2) and torch.allclose(log_q, oracle, atol=1e-12)


def correlated_linear_gaussian():
    """A 6-d model with 3 latents whose exact posterior is strongly correlated."""
    model = LinearGaussian(6, 3, seed=0)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.weight.copy_(torch.randn(6, 3, generator=generator, dtype=D))
        model.weight[:, 1] += 0.9 * model.weight[:, 0]  # make columns far from orthogonal
        model.log_sigma.fill_(-0.5)
    x = model.sample(4, generator=torch.Generator().manual_seed(2))
    return model, x


def test_exact_posterior_as_a_flow_gives_log_px_on_every_draw():
    model, x = correlated_linear_gaussian()
    post = model.posterior(x)
    flow = TriangularAffine(3, batch_shape=(4,), dtype=D).set_gaussian(post.mean, post.scale_tril)
    q = FlowPosterior(torch.zeros(4, 3, dtype=D), torch.zeros(4, 3, dtype=D), [flow])
    z, log_q = q.rsample_with_log_prob(5)
    log_w = model.decode(z).log_prob(x) + model.prior().log_prob(z) - log_q
    assert torch.allclose(log_w, model.log_marginal(x).expand(5, 4), atol=1e-9)


def test_full_covariance_flow_beats_diagonal_q():
    model, x = correlated_linear_gaussian()
    log_px = model.log_marginal(x)
    zeros = torch.zeros(4, 3, dtype=D)
    diagonal = FlowPosterior(zeros, zeros)
    full = FlowPosterior(zeros, zeros, [TriangularAffine(3, batch_shape=(4,), dtype=D)])
    for q in (diagonal, full):
        fit_posterior(model, x, q, steps=300, num_samples=32, lr=0.05)

    def exact_elbo(q):
        with torch.no_grad():
            flow = q.flows[0] if len(q.flows) else None
            scale = torch.diag_embed(q.log_sigma.exp())
            mean, tril = q.mu, scale
            if flow is not None:
                mean = flow.loc + (flow.scale_tril() @ q.mu.unsqueeze(-1)).squeeze(-1)
                tril = flow.scale_tril() @ scale
            cov = tril @ tril.transpose(-1, -2)
            return model.elbo_closed_form(x, MultivariateNormal(mean, covariance_matrix=cov))

    gap_diagonal = (log_px - exact_elbo(diagonal)).mean().item()
    gap_full = (log_px - exact_elbo(full)).mean().item()
    # The best diagonal q matches the posterior precision P on its diagonal, and falls short by
    # KL = (sum_i log P_ii - log det P) / 2 nats, the same for every image.
    precision = torch.linalg.inv(model.posterior(x).covariance_matrix[0])
    best_gap = 0.5 * (precision.diagonal().log().sum() - torch.logdet(precision)).item()
    assert best_gap > 0.3  # the correlated posterior costs a diagonal q real nats
    assert best_gap - 1e-6 <= gap_diagonal < best_gap + 0.1
    assert 0 <= gap_full < 0.02 * best_gap


def test_flow_elbo_checks_batch_and_shapes():
    model, x = correlated_linear_gaussian()
    q = FlowPosterior(torch.zeros(3, 3, dtype=D), torch.zeros(3, 3, dtype=D))
    with pytest.raises(ValueError, match="one posterior entry per image"):
        flow_elbo(model, x, q)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 3\)"):
        TriangularAffine(3)(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="same shape"):
        FlowPosterior(torch.zeros(2, 3), torch.zeros(3))


def test_fixed_base_is_not_learned():
    zeros = torch.zeros(2, 3, dtype=D)
    q = FlowPosterior(zeros, zeros, [TriangularAffine(3, batch_shape=(2,), dtype=D)], False)
    names = {name for name, _ in q.named_parameters()}
    assert names == {"flows.0.loc", "flows.0.log_diag", "flows.0.off_diagonal"}
    assert torch.equal(q.mu, zeros)


def test_closed_form_kl_only_without_flows():
    zeros = torch.zeros(2, 3, dtype=D)
    plain = FlowPosterior(zeros + 0.5, zeros - 0.2)
    oracle = kl_divergence(Independent(Normal(plain.mu, plain.log_sigma.exp()), 1), prior(3))
    assert torch.allclose(plain.kl_to_prior(), oracle, atol=1e-12)
    with pytest.raises(ValueError, match="kl='mc'"):
        FlowPosterior(zeros, zeros, [PlanarFlow(3, batch_shape=(2,), dtype=D)]).kl_to_prior()


def prior(dim):
    return Independent(Normal(torch.zeros(dim, dtype=D), torch.ones(dim, dtype=D)), 1)
