"""Explicit log-densities and closed-form KLs, summed over the last dimension: (..., D) -> (...).

Written out so the formula a lesson derives is the code it runs; tested against
``torch.distributions``. The diagonal Gaussian log q(z|x), read through the change of variables
z = mu + sigma * eps, is :func:`vae_tutorial.reparam.log_q_via_change_of_variables`.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) = -1/2 sum_i (z_i^2 + log 2 pi)."""
    return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)


def kl_to_standard_normal(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) = 1/2 sum_i (mu_i^2 + sigma_i^2 - 1 - 2 log sigma_i)."""
    return 0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 1 - 2 * log_sigma).sum(-1)
