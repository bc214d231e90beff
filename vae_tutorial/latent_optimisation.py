"""Gradient ascent on a property in latent space, with the prior as a penalty.

Given a decoder p_theta(x|z) and a differentiable property of images, move a code z uphill on

    objective(z) = property(E[x|z]) + prior_weight * log p(z),

and decode along the way. The property here is what a digit classifier says about a target digit
k: its log-probability log p(k|x), which saturates at 0 once the digit is recognised, or its
log-odds log p(k|x) - log(1 - p(k|x)), which grows without bound (like a chemical property one
wants as large as possible) and so keeps pulling. The prior term keeps z where the decoder was
trained, in the bulk of N(0, I); without it z can wander to codes whose images convince the
classifier but no longer look like digits. This is the latent-space optimisation the article
cites for chemical design.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ._checks import check_choice, check_nonempty, check_positive_int
from .densities import LOG_2PI, log_standard_normal
from .models import frozen

PROPERTIES = ("log_odds", "log_prob")
log_standard_normal_density = log_standard_normal  # the name lesson 08 uses


def target_log_odds(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(k|x) - log(1 - p(k|x)) from logits (batch, classes) and targets k (batch,).

    Computed as logit_k - logsumexp_{j != k} logit_j, which stays finite when p(k|x) rounds to 1.
    """
    chosen = logits.gather(-1, target[:, None]).squeeze(-1)
    others = logits.scatter(-1, target[:, None], float("-inf"))
    return chosen - torch.logsumexp(others, -1)


def target_log_prob(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log p(k|x) from logits (batch, classes) and targets k (batch,) -> (batch,)."""
    return F.log_softmax(logits, -1).gather(-1, target[:, None]).squeeze(-1)


@dataclass
class LatentPath:
    """A path of gradient ascent, recorded at every step (index 0 is the start).

    codes: (steps + 1, batch, latent_dim); target_probability and log_prior: (steps + 1, batch).
    """

    codes: torch.Tensor
    target_probability: torch.Tensor
    log_prior: torch.Tensor

    @property
    def steps(self) -> int:
        return len(self.codes) - 1


def latent_ascent(
    model,
    classifier,
    z0: torch.Tensor,
    target,
    steps: int = 100,
    step_size: float = 0.1,
    prior_weight: float = 1.0,
    prop: str = "log_odds",
) -> LatentPath:
    """Plain gradient ascent z <- z + step_size * grad objective(z), from z0.

    model: has ``decode_mean(z)`` -> images (batch, D) in [0, 1] (a VAE's decoder).
    classifier: maps images (batch, D) to class logits (batch, classes).
    z0: (batch, latent_dim) start codes; target: an int or (batch,) int64 target digits.
    prior_weight: weight of log p(z) = log N(z; 0, I); 0 switches the penalty off.
    prop: ``"log_odds"`` or ``"log_prob"`` of the target digit (see the module docstring).
    Only z moves; the weights of model and classifier get no gradients.
    """
    check_positive_int("steps", steps)
    check_choice("prop", prop, PROPERTIES)
    if not step_size > 0:
        raise ValueError(f"step_size must be a positive number, got {step_size!r}.")
    if not prior_weight >= 0:
        raise ValueError(f"prior_weight must be >= 0 (0 = no prior penalty), got {prior_weight}.")
    if z0.dim() != 2:
        raise ValueError(f"z0 must have shape (batch, latent_dim), got {tuple(z0.shape)}.")
    check_nonempty("z0", z0)
    target = torch.as_tensor(target, dtype=torch.int64).expand(len(z0))
    score = target_log_odds if prop == "log_odds" else target_log_prob
    z = z0.detach().clone().requires_grad_(True)
    codes, probabilities, log_priors = [], [], []
    with frozen(model, classifier):
        for step in range(steps + 1):
            logits = classifier(model.decode_mean(z))
            log_prior = log_standard_normal(z)
            codes.append(z.detach().clone())
            probabilities.append(target_log_prob(logits, target).detach().exp())
            log_priors.append(log_prior.detach())
            if step == steps:
                break
            # Each code's objective depends only on itself, so one backward pass of the sum
            # gives every code its own gradient.
            objective = score(logits, target) + prior_weight * log_prior
            (gradient,) = torch.autograd.grad(objective.sum(), z)
            with torch.no_grad():
                z += step_size * gradient
    return LatentPath(torch.stack(codes), torch.stack(probabilities), torch.stack(log_priors))


def typical_log_prior_range(latent_dim: int, mass: float = 0.99) -> tuple[float, float]:
    """The central interval of log N(z; 0, I) that holds ``mass`` of prior draws, in nats.

    log p(z) = -(D log 2 pi + |z|^2) / 2 and |z|^2 follows chi^2 with D degrees of freedom
    under the prior, so the interval comes from chi^2 quantiles. Returns (low, high).
    """
    from scipy.stats import chi2

    check_positive_int("latent_dim", latent_dim)
    if not 0 < mass < 1:
        raise ValueError(f"mass must lie strictly between 0 and 1, got {mass}.")
    upper_sq = chi2.ppf(0.5 + mass / 2, latent_dim)
    lower_sq = chi2.ppf(0.5 - mass / 2, latent_dim)
    constant = -0.5 * latent_dim * LOG_2PI
    return float(constant - 0.5 * upper_sq), float(constant - 0.5 * lower_sq)
