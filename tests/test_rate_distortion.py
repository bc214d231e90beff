"""Rate, distortion, the beta-weighted ELBO, KL warm-up and free bits, against independent
computations: torch.distributions for the KL and the likelihood, NumPy for the covariance of the
posterior means, and the package's ELBO for beta = 1."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_tutorial import rate_distortion as rd
from vae_tutorial.models import VAE
from vae_tutorial.objectives import elbo


@pytest.fixture
def model():
    torch.manual_seed(3)
    vae = VAE(latent_dim=5, hidden_dim=16, input_dim=12)
    with torch.no_grad():
        vae.encoder[-1].bias.add_(0.3)  # move q away from the prior so the KL is not ~0
    return vae


@pytest.fixture
def x():
    return torch.bernoulli(torch.full((40, 12), 0.4), generator=torch.Generator().manual_seed(1))


def _q(model, x):
    mu, log_sigma = model.encoder_params(x)
    return Normal(mu, log_sigma.exp())


def test_rate_is_the_closed_form_kl(model, x):
    with torch.no_grad():
        want = kl_divergence(_q(model, x), Normal(0.0, 1.0))
        assert torch.allclose(rd.rate_per_dimension(model, x), want, atol=1e-6)
        assert torch.allclose(rd.rate(model, x), want.sum(-1), atol=1e-5)
        assert rd.rate(model, x).shape == (40,)


def test_distortion_is_minus_the_expected_log_likelihood(model, x):
    with torch.no_grad():
        torch.manual_seed(5)
        got = rd.distortion(model, x, num_samples=7)
        torch.manual_seed(5)
        z = _q(model, x).rsample((7,))
        want = -torch.distributions.Bernoulli(logits=model.decoder(z)).log_prob(x).sum(-1).mean(0)
    assert got.shape == (40,)
    assert torch.allclose(got, want, atol=1e-4)


def test_beta_one_reproduces_the_elbo(model, x):
    torch.manual_seed(7)
    mine = rd.beta_elbo(model, x, beta=1.0)
    torch.manual_seed(7)
    package = elbo(model, x)
    assert torch.allclose(mine, package, atol=1e-4)
    # and beta scales only the KL: beta_elbo(b) - beta_elbo(1) = (1 - b) * rate
    torch.manual_seed(7)
    heavy = rd.beta_elbo(model, x, beta=3.0)
    assert torch.allclose(heavy - mine, -2.0 * rd.rate(model, x), atol=1e-4)


def test_free_bits_floor_each_dimension(model, x):
    with torch.no_grad():
        per_dim = kl_divergence(_q(model, x), Normal(0.0, 1.0))
        floor = float(per_dim.median())
        torch.manual_seed(2)
        with_floor = rd.beta_elbo(model, x, beta=2.0, free_bits=floor)
        torch.manual_seed(2)
        without = rd.beta_elbo(model, x, beta=2.0)
    want = without + 2.0 * per_dim.sum(-1) - 2.0 * torch.clamp(per_dim, min=floor).sum(-1)
    assert torch.allclose(with_floor, want, atol=1e-4)
    # a floor on the total would differ: the per-dimension floor is at least as large
    total_floor = torch.clamp(per_dim.sum(-1), min=floor)
    assert (torch.clamp(per_dim, min=floor).sum(-1) > total_floor + 1e-6).any()


def test_free_bits_stop_the_rate_gradient_below_the_floor(model, x):
    """With every dimension's KL under the floor, only the distortion trains the encoder."""
    floor = 1e3

    def encoder_gradient(objective):
        model.zero_grad()
        torch.manual_seed(11)
        objective().sum().backward()
        return torch.cat([p.grad.flatten() for p in model.encoder.parameters()])

    floored = encoder_gradient(lambda: rd.beta_elbo(model, x, beta=5.0, free_bits=floor))
    distortion_only = encoder_gradient(lambda: -rd.distortion(model, x))
    plain = encoder_gradient(lambda: rd.beta_elbo(model, x, beta=5.0))
    assert torch.allclose(floored, distortion_only, atol=1e-5)
    assert not torch.allclose(plain, distortion_only, atol=1e-3)


def test_warmup_schedule():
    assert rd.warmup_beta(0, 10) == 0.0
    assert rd.warmup_beta(5, 10) == pytest.approx(0.5)
    assert rd.warmup_beta(10, 10) == 1.0
    assert rd.warmup_beta(25, 10) == 1.0
    assert rd.warmup_beta(5, 10, final_beta=4.0) == pytest.approx(2.0)


def test_beta_objective_warms_up_during_training_only(model, x):
    objective = rd.BetaObjective(beta=2.0, warmup_steps=4)
    assert objective.beta == 0.0
    model.train()
    betas = []
    for _ in range(6):
        betas.append(objective.beta)
        objective(model, x).mean().backward()
    assert betas == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.0])
    with torch.no_grad():
        objective(model, x)
    model.eval()
    objective(model, x)
    assert objective.steps == 6


def test_beta_objective_trains_with_fit(x):
    from vae_tutorial.training import fit

    torch.manual_seed(0)
    vae = VAE(latent_dim=3, hidden_dim=8, input_dim=12)
    objective = rd.BetaObjective(beta=1.0, warmup_steps=3, free_bits=0.1)
    history = fit(vae, x, epochs=2, batch_size=10, objective=objective, progress=False, seed=0)
    assert objective.steps == 8 and objective.beta == 1.0
    assert history.objective == "beta_elbo" and len(history.train) == 2


def test_pixel_mean_loss_gradient_is_a_rescaled_beta_elbo_gradient(model, x):
    for kl_reduction in ("sum", "mean"):
        beta = rd.equivalent_beta(12, 5, kl_reduction)
        assert beta == (12.0 if kl_reduction == "sum" else 12 / 5)
        model.zero_grad()
        torch.manual_seed(9)
        rd.pixel_mean_loss(model, x, kl_reduction).mean().backward()
        mean_grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad()
        torch.manual_seed(9)
        (-rd.beta_elbo(model, x, beta=beta)).mean().backward()
        beta_grads = [p.grad.clone() for p in model.parameters()]
        for g_mean, g_beta in zip(mean_grads, beta_grads, strict=True):
            assert torch.allclose(12 * g_mean, g_beta, atol=1e-5, rtol=1e-4)
        # and it is NOT a rescaled ELBO gradient (beta = 1)
        model.zero_grad()
        torch.manual_seed(9)
        (-elbo(model, x)).mean().backward()
        elbo_grads = torch.cat([p.grad.flatten() for p in model.parameters()])
        mean_flat = torch.cat([g.flatten() for g in mean_grads])
        cosine = torch.nn.functional.cosine_similarity(mean_flat, elbo_grads, dim=0)
        assert cosine < 0.999


def test_measure_against_direct_computations(model, x):
    result = rd.measure(model, x, num_samples=3, batch_size=16, seed=4)
    with torch.no_grad():
        q = _q(model, x)
        kl = kl_divergence(q, Normal(0.0, 1.0)).double()
        mu = q.loc.double().numpy()
    r = kl.sum(-1).numpy()
    assert result.rate == pytest.approx(r.mean(), rel=1e-5)
    assert result.rate_se == pytest.approx(r.std(ddof=1) / math.sqrt(len(r)), rel=1e-4)
    np.testing.assert_allclose(result.rate_per_dimension, kl.mean(0).numpy(), rtol=1e-5)
    assert result.elbo == pytest.approx(-(result.rate + result.distortion), rel=1e-6)
    # Active units (Burda et al.): the diagonal of the covariance of E_q[z|x] over the data
    covariance = np.cov(mu, rowvar=False, bias=True)
    np.testing.assert_allclose(result.activity, np.diag(covariance), rtol=1e-6)
    assert result.active == int((np.diag(covariance) > 0.01).sum())
    # measure leaves the global random state as it found it and is repeatable
    state = torch.random.get_rng_state()
    again = rd.measure(model, x, num_samples=3, batch_size=16, seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    assert again.distortion == result.distortion


def test_active_units_see_a_switched_off_dimension(model, x):
    with torch.no_grad():
        # dimension 0 of mu (the first output of the encoder's last layer) ignores x
        model.encoder[-1].weight[0].zero_()
    result = rd.measure(model, x)
    assert result.activity[0] == pytest.approx(0.0, abs=1e-12)
    assert result.active <= 4


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, x: rd.beta_elbo(m, x, beta=-0.5), "beta must be a number >= 0"),
        (lambda m, x: rd.beta_elbo(m, x, beta=float("nan")), "beta must be a number >= 0"),
        (lambda m, x: rd.beta_elbo(m, x, free_bits=-1.0), "free_bits must be"),
        (lambda m, x: rd.BetaObjective(warmup_steps=0), "warmup_steps must be a positive"),
        (lambda m, x: rd.BetaObjective(warmup_steps=2.5), "warmup_steps must be a positive"),
        (lambda m, x: rd.BetaObjective(beta=-1), "beta must be a number >= 0"),
        (lambda m, x: rd.BetaObjective(free_bits=-0.1), "free_bits must be"),
        (lambda m, x: rd.warmup_beta(3, 0), "warmup_steps must be a positive"),
        (lambda m, x: rd.warmup_beta(-1, 5), "step must be"),
        (lambda m, x: rd.pixel_mean_loss(m, x, kl_reduction="max"), "kl_reduction"),
        (lambda m, x: rd.distortion(m, x, num_samples=0), "num_samples"),
        (lambda m, x: rd.rate(m, x * 0.5), "grey levels"),
    ],
)
def test_bad_options_raise_one_clear_error(model, x, call, match):
    with pytest.raises(ValueError, match=match):
        call(model, x)
