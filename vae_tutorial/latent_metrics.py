"""Numbers that describe a latent space: class mixing, active units, the aggregate posterior.

codes, mu, log_sigma: (N, latent_dim) tensors or arrays, one row per image; labels: (N,).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_positive_int, to_numpy


def _check_codes(codes, name: str = "codes") -> np.ndarray:
    codes = to_numpy(codes, np.float64)
    if codes.ndim != 2 or len(codes) < 2:
        raise ValueError(
            f"{name} must have shape (N, latent_dim) with N >= 2, got {codes.shape}; "
            "pass one row per image."
        )
    if not np.isfinite(codes).all():
        raise ValueError(f"{name} contains NaN or infinite values.")
    return codes


def neighbour_class_mixing(codes, labels, k: int = 10) -> float:
    """Fraction of each point's k nearest neighbours (Euclidean, itself excluded) whose label
    differs from its own, averaged over points: 0 = classes perfectly separated locally."""
    codes = _check_codes(codes)
    labels = to_numpy(labels).astype(np.int64)
    check_positive_int("k", k)
    if labels.shape != (len(codes),):
        raise ValueError(f"labels must have shape ({len(codes)},), got {labels.shape}.")
    if k >= len(codes):
        raise ValueError(f"k={k} needs more than k points; got {len(codes)} codes.")
    from sklearn.neighbors import NearestNeighbors

    # Ask for k + 1 neighbours: the nearest one of each point is the point itself.
    index = NearestNeighbors(n_neighbors=k + 1).fit(codes)
    neighbours = index.kneighbors(codes, return_distance=False)[:, 1:]
    return float((labels[neighbours] != labels[:, None]).mean())


def unit_activity(mu) -> np.ndarray:
    """Variance over the data of each posterior mean, Cov_x(E_q[z_i|x]): (N, D) -> (D,).

    A unit whose posterior mean does not move with x carries no information about x.
    """
    return _check_codes(mu, "mu").var(axis=0)


def active_units(mu, threshold: float = 0.01) -> int:
    """How many latent units have activity above ``threshold`` (Burda et al., 2015, use 0.01)."""
    return int((unit_activity(mu) > threshold).sum())


def aggregate_posterior_moments(mu, log_sigma):
    """Mean and variance per dimension of q(z) = (1/N) sum_n N(z; mu_n, diag sigma_n^2).

    mu, log_sigma: (N, D) -> mean (D,), variance (D,); by the law of total variance,
    Var[z_i] = mean_n sigma_{n,i}^2 + Var_n(mu_{n,i}).
    """
    mu = _check_codes(mu, "mu")
    log_sigma = _check_codes(log_sigma, "log_sigma")
    if mu.shape != log_sigma.shape:
        raise ValueError(
            f"mu and log_sigma must have the same shape, got {mu.shape} and {log_sigma.shape}."
        )
    return mu.mean(axis=0), np.exp(2 * log_sigma).mean(axis=0) + mu.var(axis=0)
