"""The ELBO as rate and distortion: the KL weight beta, KL warm-up, free bits, posterior collapse.

-L(x) = D(x) + R(x), with the distortion D(x) = -E_q[log p_theta(x|z)] and the rate
R(x) = KL(q_phi(z|x) || p(z)) (Alemi et al., 2018, *Fixing a Broken ELBO*). Weighting the rate by
beta gives the beta-VAE objective of Higgins et al. (2017); beta = 1 is the ELBO. All values are per
example, in nats; reduce them at the call site.

Works for any model whose ``encode(x)`` returns a diagonal Gaussian q(z|x) (an ``Independent``
``Normal``), ``decode(z)`` returns p(x|z) and ``prior()`` returns N(0, I), like ``models.VAE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ._checks import check_choice, check_positive_int
from .latent_metrics import active_units, unit_activity
from .objectives import kl_to_standard_normal

KL_REDUCTIONS = ("sum", "mean")


def _check_beta(beta) -> float:
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0:
        raise ValueError(
            f"beta must be a number >= 0 (the weight of the rate; 1 is the ELBO), got {beta!r}."
        )
    if math.isinf(beta):
        raise ValueError(f"beta must be finite, got {beta!r}; use a large finite weight instead.")
    return float(beta)


def _check_free_bits(free_bits) -> float:
    if (
        isinstance(free_bits, bool)
        or not isinstance(free_bits, (int, float))
        or not math.isfinite(free_bits)
        or free_bits < 0
    ):
        raise ValueError(
            f"free_bits must be a finite number >= 0 (nats per latent dimension; 0 turns it off), "
            f"got {free_bits!r}."
        )
    return float(free_bits)


def _check_input(model, x: torch.Tensor) -> torch.Tensor:
    check = getattr(model, "check_input", None)
    return check(x) if check is not None else x


def _rate_and_distortion(model, x: torch.Tensor, num_samples: int = 1):
    """One encoder pass: (KL per dimension (batch, latent_dim), distortion (batch,))."""
    q = model.encode(x)
    base = q.base_dist
    # kl_to_standard_normal sums over its last axis: give each dimension an axis of its own.
    per_dimension = kl_to_standard_normal(base.loc.unsqueeze(-1), base.scale.log().unsqueeze(-1))
    z = q.rsample((num_samples,))
    return per_dimension, -model.decode(z).log_prob(x).mean(0)


def rate_per_dimension(model, x: torch.Tensor) -> torch.Tensor:
    """KL(q(z_i|x) || N(0, 1)) for each latent dimension i, in closed form.

    x: (batch, input_dim) -> (batch, latent_dim) in nats; summed over i it is the rate R(x).
    """
    base = model.encode(_check_input(model, x)).base_dist
    return kl_to_standard_normal(base.loc.unsqueeze(-1), base.scale.log().unsqueeze(-1))


def rate(model, x: torch.Tensor) -> torch.Tensor:
    """The rate R(x) = KL(q_phi(z|x) || p(z)), per example: (batch, input_dim) -> (batch,)."""
    return rate_per_dimension(model, x).sum(-1)


def distortion(model, x: torch.Tensor, num_samples: int = 1) -> torch.Tensor:
    """The distortion D(x) = -E_q[log p_theta(x|z)], estimated with ``num_samples`` draws z ~ q.

    x: (batch, input_dim) -> (batch,) in nats (the average over the draws).
    """
    check_positive_int("num_samples", num_samples)
    return _rate_and_distortion(model, _check_input(model, x), num_samples)[1]


def beta_elbo(
    model, x: torch.Tensor, beta: float = 1.0, free_bits: float = 0.0, num_samples: int = 1
) -> torch.Tensor:
    """-D(x) - beta * R(x), per example; with free bits, each dimension's KL counts at least
    ``free_bits`` nats: R_fb(x) = sum_i max(free_bits, KL_i(x)).

    x: (batch, input_dim) -> (batch,) in nats. beta = 1, free_bits = 0 is the ELBO
    (``objectives.elbo`` with the analytic KL). The floor is applied per example and per
    dimension (Kingma et al., 2016, apply it to minibatch averages of groups of dimensions): a
    dimension whose KL is below the floor gets no gradient from the rate term, so the encoder may
    use it for free.
    """
    beta = _check_beta(beta)
    free_bits = _check_free_bits(free_bits)
    check_positive_int("num_samples", num_samples)
    per_dimension, d = _rate_and_distortion(model, _check_input(model, x), num_samples)
    if free_bits > 0:
        per_dimension = per_dimension.clamp(min=free_bits)
    return -d - beta * per_dimension.sum(-1)


def warmup_beta(step: int, warmup_steps: int, final_beta: float = 1.0) -> float:
    """A linear KL warm-up: beta rises from 0 at step 0 to ``final_beta`` at ``warmup_steps``,
    then stays there (Bowman et al., 2016; Sonderby et al., 2016)."""
    check_positive_int("warmup_steps", warmup_steps)
    final_beta = _check_beta(final_beta)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}.")
    return final_beta * min(1.0, step / warmup_steps)


class BetaObjective:
    """A training objective for ``training.fit``: ``beta_elbo`` with an optional KL warm-up.

    beta: the final weight of the rate. free_bits: floor per latent dimension (nats).
    warmup_steps: None (no warm-up) or the number of gradient steps over which beta rises
    linearly from 0 (:func:`warmup_beta`). A step is one call while the model trains with
    gradients on; evaluation calls (no gradient or eval mode) do not advance the schedule.

    >>> objective = BetaObjective(beta=1.0, warmup_steps=300)
    >>> fit(model, x, epochs=20, objective=objective)   # doctest: +SKIP
    """

    __name__ = "beta_elbo"

    def __init__(self, beta: float = 1.0, free_bits: float = 0.0, warmup_steps: int | None = None):
        self.final_beta = _check_beta(beta)
        self.free_bits = _check_free_bits(free_bits)
        if warmup_steps is not None:
            if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int):
                raise ValueError(
                    f"warmup_steps must be a positive integer or None, got {warmup_steps!r}."
                )
            if warmup_steps < 1:
                raise ValueError(
                    f"warmup_steps must be a positive integer, got {warmup_steps!r}; use None "
                    "for no warm-up."
                )
        self.warmup_steps = warmup_steps
        self.steps = 0

    @property
    def beta(self) -> float:
        """The weight of the rate at the current step."""
        if self.warmup_steps is None:
            return self.final_beta
        return warmup_beta(self.steps, self.warmup_steps, self.final_beta)

    def __call__(self, model, x: torch.Tensor) -> torch.Tensor:
        value = beta_elbo(model, x, beta=self.beta, free_bits=self.free_bits)
        if model.training and torch.is_grad_enabled():
            self.steps += 1
        return value

    def __repr__(self) -> str:
        return (
            f"BetaObjective(beta={self.final_beta}, free_bits={self.free_bits}, "
            f"warmup_steps={self.warmup_steps})"
        )


def pixel_mean_loss(model, x: torch.Tensor, kl_reduction: str = "sum") -> torch.Tensor:
    """The loss many code examples minimise: the reconstruction term averaged over pixels
    (``reduction="mean"``) plus the KL, summed (``"sum"``) or averaged (``"mean"``) over latent
    dimensions. Per example, (batch, input_dim) -> (batch,).

    It equals -beta_elbo(beta) / input_dim with beta = input_dim (KL summed) or
    input_dim / latent_dim (KL averaged): a beta-VAE with a very strong KL weight, scaled down.
    """
    check_choice("kl_reduction", kl_reduction, KL_REDUCTIONS)
    per_dimension, d = _rate_and_distortion(model, _check_input(model, x))
    kl = per_dimension.sum(-1) if kl_reduction == "sum" else per_dimension.mean(-1)
    return d / x.shape[-1] + kl


def equivalent_beta(input_dim: int, latent_dim: int, kl_reduction: str = "sum") -> float:
    """The beta for which :func:`pixel_mean_loss` is a rescaled negative beta-ELBO."""
    check_positive_int("input_dim", input_dim)
    check_positive_int("latent_dim", latent_dim)
    check_choice("kl_reduction", kl_reduction, KL_REDUCTIONS)
    return float(input_dim) if kl_reduction == "sum" else input_dim / latent_dim


@dataclass
class RateDistortion:
    """Test-set averages of one model, in nats per example, with standard errors over examples.

    rate_per_dimension: (latent_dim,) average KL of each dimension; activity: (latent_dim,)
    variance over the data of each posterior mean; active: units with activity > 0.01.
    """

    rate: float
    rate_se: float
    distortion: float
    distortion_se: float
    elbo: float
    elbo_se: float
    rate_per_dimension: np.ndarray
    activity: np.ndarray
    active: int
    per_example_rate: np.ndarray
    per_example_distortion: np.ndarray


@torch.no_grad()
def measure(
    model, x: torch.Tensor, num_samples: int = 10, batch_size: int = 500, seed: int = 0
) -> RateDistortion:
    """Rate, distortion, ELBO (= -(D + R)), per-dimension rate and active units of ``model`` on x.

    x: (N, input_dim), N >= 2. The distortion averages ``num_samples`` draws per example, with
    noise seeded by ``seed``; standard errors are over examples.
    """
    check_positive_int("batch_size", batch_size)
    was_training = model.training
    model.eval()
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        rates, distortions, mus = [], [], []
        for i in range(0, len(x), batch_size):
            batch = x[i : i + batch_size].to(model.device)
            per_dimension, d = _rate_and_distortion(model, _check_input(model, batch), num_samples)
            rates.append(per_dimension.cpu())
            distortions.append(d.cpu())
            mus.append(model.encode(batch).base_dist.loc.cpu())
    finally:
        torch.random.set_rng_state(generator_state)
        model.train(was_training)
    per_dimension = torch.cat(rates).double().numpy()
    r = per_dimension.sum(-1)
    d = torch.cat(distortions).double().numpy()
    mu = torch.cat(mus)
    n = len(r)

    def se(values):
        return float(values.std(ddof=1) / math.sqrt(n))

    return RateDistortion(
        rate=float(r.mean()),
        rate_se=se(r),
        distortion=float(d.mean()),
        distortion_se=se(d),
        elbo=float(-(r + d).mean()),
        elbo_se=se(r + d),
        rate_per_dimension=per_dimension.mean(0),
        activity=unit_activity(mu),
        active=active_units(mu),
        per_example_rate=r,
        per_example_distortion=d,
    )
