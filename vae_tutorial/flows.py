"""Richer posteriors q(z|x) from invertible maps with cheap log-determinants.

Start from a diagonal Gaussian z_0 = mu + sigma * eps and push it through invertible maps
z_k = f_k(z_{k-1}). By the change of variables,

    log q(z_K) = log N(eps; 0, I) - sum_i log sigma_i - sum_k log |det d f_k / d z_{k-1}|,

so each map must say how much it stretches volume. Two maps whose log-determinant costs O(D):

* :class:`TriangularAffine`: z = loc + L z_in with L lower triangular (positive diagonal); from
  eps ~ N(0, I) this is any full-covariance Gaussian N(loc, L L^T); log |det| = sum log L_ii.
* :class:`PlanarFlow` (Rezende & Mohamed, 2015): z = z_in + u tanh(w^T z_in + b);
  log |det| = log |1 + u^T w tanh'(w^T z_in + b)|.

Every map's ``forward(z)`` returns ``(new_z, log_det)`` with z: (..., D) and log_det: (...).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_positive_int, model_input
from .densities import kl_to_standard_normal
from .models import frozen
from .objectives import posterior_elbo_samples
from .reparam import log_q_via_change_of_variables


def _check_last_dim(z: torch.Tensor, dim: int, name: str = "z") -> None:
    if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[-1] != dim:
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{name} must have shape (..., {dim}), got {shape}.")


class TriangularAffine(nn.Module):
    """z = loc + L z_in, L lower triangular with diagonal exp(log_diag). Parameters: (*batch, D).

    batch_shape: one independent map per entry, e.g. ``(n_images,)`` for per-image posteriors;
    z_in: (..., *batch_shape, D) broadcasts against it.
    """

    def __init__(self, dim: int, batch_shape=(), dtype: torch.dtype = torch.float32):
        super().__init__()
        check_positive_int("dim", dim)
        batch_shape = tuple(batch_shape)
        self.dim = dim
        self.loc = nn.Parameter(torch.zeros(*batch_shape, dim, dtype=dtype))
        self.log_diag = nn.Parameter(torch.zeros(*batch_shape, dim, dtype=dtype))
        # Only the strictly lower part of this matrix is used; the rest is masked out.
        self.off_diagonal = nn.Parameter(torch.zeros(*batch_shape, dim, dim, dtype=dtype))

    def scale_tril(self) -> torch.Tensor:
        """L: (*batch, D, D), lower triangular with a positive diagonal."""
        return torch.tril(self.off_diagonal, diagonal=-1) + torch.diag_embed(self.log_diag.exp())

    @torch.no_grad()
    def set_gaussian(self, loc: torch.Tensor, scale_tril: torch.Tensor) -> TriangularAffine:
        """Make the map send N(0, I) to N(loc, scale_tril scale_tril^T); returns self."""
        diagonal = torch.diagonal(scale_tril, dim1=-2, dim2=-1)
        if (diagonal <= 0).any():
            raise ValueError("scale_tril must have a positive diagonal (a Cholesky factor).")
        self.loc.copy_(loc)
        self.log_diag.copy_(diagonal.log())
        self.off_diagonal.copy_(torch.tril(scale_tril, diagonal=-1))
        return self

    def forward(self, z: torch.Tensor):
        """z: (..., *batch, D) -> loc + L z (same shape) and log|det L| (..., *batch)."""
        _check_last_dim(z, self.dim)
        new_z = self.loc + (self.scale_tril() @ z.unsqueeze(-1)).squeeze(-1)
        log_det = self.log_diag.sum(-1).expand(new_z.shape[:-1])
        return new_z, log_det

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """The z_in with forward(z_in)[0] == z: a triangular solve, (..., *batch, D)."""
        _check_last_dim(z, self.dim)
        centred = (z - self.loc).unsqueeze(-1)
        lower = self.scale_tril().expand(*centred.shape[:-2], self.dim, self.dim)
        return torch.linalg.solve_triangular(lower, centred, upper=False).squeeze(-1)


class PlanarFlow(nn.Module):
    """z = z_in + u_hat tanh(w^T z_in + b), invertible because w^T u_hat >= -1.

    u_hat is u moved along w just enough to keep the map invertible (Rezende & Mohamed, 2015,
    appendix A). Parameters: u, w (*batch, D), b (*batch,).
    """

    def __init__(self, dim: int, batch_shape=(), seed: int = 0, dtype: torch.dtype = torch.float32):
        super().__init__()
        check_positive_int("dim", dim)
        batch_shape = tuple(batch_shape)
        generator = torch.Generator().manual_seed(seed)
        self.dim = dim
        # Small random start: near the identity map, but with a direction to grow from.
        self.u = nn.Parameter(
            0.1 * torch.randn(*batch_shape, dim, generator=generator, dtype=dtype)
        )
        self.w = nn.Parameter(
            0.1 * torch.randn(*batch_shape, dim, generator=generator, dtype=dtype)
        )
        self.b = nn.Parameter(torch.zeros(batch_shape, dtype=dtype))

    def u_hat(self) -> torch.Tensor:
        """u adjusted so that w^T u_hat = -1 + softplus(w^T u) > -1: (*batch, D)."""
        wu = (self.w * self.u).sum(-1, keepdim=True)
        w_norm2 = self.w.pow(2).sum(-1, keepdim=True).clamp(min=1e-12)
        return self.u + (F.softplus(wu) - 1 - wu) * self.w / w_norm2

    def forward(self, z: torch.Tensor):
        """z: (..., *batch, D) -> the new z (same shape) and log|det dnew/dz| (..., *batch)."""
        _check_last_dim(z, self.dim)
        u = self.u_hat()
        activation = torch.tanh((z * self.w).sum(-1) + self.b)
        new_z = z + u * activation.unsqueeze(-1)
        # det(I + u psi^T) = 1 + psi^T u with psi = tanh'(a) w (the matrix determinant lemma).
        slope = 1 - activation.pow(2)
        log_det = torch.log((1 + slope * (self.w * u).sum(-1)).abs() + 1e-12)
        return new_z, log_det


class FlowPosterior(nn.Module):
    """q(z) = a diagonal Gaussian N(mu, diag sigma^2) pushed through ``flows`` in order.

    mu, log_sigma: (*batch, D) starting values. flows: maps with ``forward(z)`` -> (z, log_det),
    e.g. :class:`PlanarFlow`. With no flows this is the usual diagonal q.
    learn_base: learn mu and log_sigma too (True), or keep the base Gaussian fixed (False), e.g.
    N(0, I) in front of a :class:`TriangularAffine` that does all the work.
    """

    def __init__(
        self, mu: torch.Tensor, log_sigma: torch.Tensor, flows=(), learn_base: bool = True
    ):
        super().__init__()
        if mu.shape != log_sigma.shape or mu.dim() < 1:
            raise ValueError(
                f"mu and log_sigma must have the same shape (*batch, D), got {tuple(mu.shape)} "
                f"and {tuple(log_sigma.shape)}."
            )
        if learn_base:
            self.mu = nn.Parameter(mu.detach().clone())
            self.log_sigma = nn.Parameter(log_sigma.detach().clone())
        else:
            self.register_buffer("mu", mu.detach().clone())
            self.register_buffer("log_sigma", log_sigma.detach().clone())
        self.flows = nn.ModuleList(flows)

    def transform(self, eps: torch.Tensor):
        """eps: (..., *batch, D) -> z of the same shape and log q(z), (..., *batch)."""
        z = self.mu + self.log_sigma.exp() * eps
        log_q = log_q_via_change_of_variables(eps, self.log_sigma)
        for flow in self.flows:
            z, log_det = flow(z)
            log_q = log_q - log_det
        return z, log_q

    def rsample_with_log_prob(self, num_samples: int, generator: torch.Generator | None = None):
        """Differentiable draws: z (num_samples, *batch, D) and log q(z) (num_samples, *batch)."""
        check_positive_int("num_samples", num_samples)
        eps = torch.randn(num_samples, *self.mu.shape, generator=generator, dtype=self.mu.dtype).to(
            self.mu.device
        )
        return self.transform(eps)

    def kl_to_prior(self) -> torch.Tensor:
        """KL(q || N(0, I)) in closed form, (*batch,); only for a q without flows."""
        if len(self.flows):
            raise ValueError(
                "a posterior with flows has no closed-form KL; use kl='mc' (the default)."
            )
        return kl_to_standard_normal(self.mu, self.log_sigma)


def flow_elbo(model, x: torch.Tensor, posterior, num_samples: int = 1, generator=None):
    """Monte-Carlo ELBO E_q[log p(x, z) - log q(z)] with a flow posterior, per example.

    model: has ``decode(z)`` -> p(x|z) and ``prior()`` -> p(z). x: (batch, D_x);
    posterior: a :class:`FlowPosterior` with batch shape (batch,). Returns (batch,) in nats.
    """
    x = model_input(model, x)
    return posterior_elbo_samples(model, x, posterior, num_samples, generator).mean(0)


def fit_posterior(
    model,
    x: torch.Tensor,
    posterior,
    steps: int = 500,
    num_samples: int = 16,
    lr: float = 0.01,
    seed: int = 0,
    kl: str = "mc",
) -> list[float]:
    """Fit a per-image posterior q (Gaussian or flow) by Adam on its ELBO; the model stays fixed.

    x: (batch, D); posterior: a :class:`FlowPosterior` with batch shape (batch,), changed in
    place. Each step draws ``num_samples`` fresh eps per image (reparameterized, so the gradient
    is unbiased) and maximises the sum over images of their mean ELBO: each image's ELBO depends
    only on its own parameters, so this is the same as fitting them one by one. The learning
    rate falls linearly to zero, so the noisy steps shrink and the parameters settle.
    kl: ``"mc"``, or ``"analytic"`` (closed-form KL, a posterior without flows).
    Returns the mean ELBO estimate (nats per example) at each step, a noisy curve.
    """
    check_positive_int("steps", steps)
    check_positive_int("num_samples", num_samples)
    x = model_input(model, x)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(posterior.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    trace = []
    with frozen(model):
        for _ in range(steps):
            values = posterior_elbo_samples(model, x, posterior, num_samples, generator, kl)
            objective = values.mean(0).sum()
            optimizer.zero_grad(set_to_none=True)
            (-objective).backward()
            optimizer.step()
            schedule.step()
            trace.append(objective.item() / len(x))
    return trace


def log_abs_det_autograd(transform, z: torch.Tensor) -> torch.Tensor:
    """log |det d transform(z) / dz| for one point z: (D,), by autograd (a reference, O(D^3))."""
    jacobian = torch.autograd.functional.jacobian(lambda v: transform(v)[0], z)
    return torch.linalg.slogdet(jacobian).logabsdet


__all__ = [
    "TriangularAffine",
    "PlanarFlow",
    "FlowPosterior",
    "flow_elbo",
    "fit_posterior",
    "log_abs_det_autograd",
]
