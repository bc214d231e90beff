"""Diagrams for the latent-space lessons (04-06), drawn with matplotlib from illustrative numbers.

Each function draws one picture that says in a glance what a paragraph of prose would: how the
aggregate posterior is built from per-image Gaussians, how importance sampling re-weights draws
from q, why prior codes live on a shell. Every function returns the figure; pass ``ax`` (or
``axes``) to draw into existing axes.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from .plots import image_grid


def _normal_pdf(z, mean, std):
    return np.exp(-0.5 * ((z - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def aggregate_posterior_diagram(
    means=(-1.6, -0.9, -0.3, 0.2, 0.7, 1.3, 1.9), std: float = 0.3, ax=None
):
    """One latent dimension: per-image posteriors N(mu_n, std^2) (each weighted 1/N), their
    mixture q(z) = (1/N) sum_n q(z|x_n), and the prior N(0, 1). The mixture's variance is
    mean(std^2) + Var_n(mu_n), printed in the legend."""
    means = np.asarray(means, dtype=float)
    fig, ax = _axes(ax, (7, 3.4))
    grid = np.linspace(-4, 4, 600)
    parts = np.stack([_normal_pdf(grid, m, std) / len(means) for m in means])
    for i, part in enumerate(parts):
        ax.plot(
            grid,
            part,
            color="C0",
            lw=0.8,
            alpha=0.8,
            label=r"$q_\phi(z|x_n)/N$" if i == 0 else None,
        )
    variance = std**2 + means.var()
    ax.plot(
        grid, parts.sum(0), color="C3", lw=2, label=f"aggregate $q(z)$, variance {variance:.2f}"
    )
    ax.plot(grid, _normal_pdf(grid, 0, 1), "k--", lw=1.2, label=r"prior $p(z)=\mathcal{N}(0,1)$")
    ax.set_xlabel("one latent dimension $z_d$")
    ax.set_ylabel("density")
    ax.set_title("the aggregate posterior: a mixture of small per-image Gaussians")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig


def importance_sampling_diagram(num_samples: int = 12, seed: int = 0, ax=None):
    """One latent dimension: the prior p(z), the true posterior p(z|x), a proposal q(z|x) a bit
    off and wider, and draws z_l ~ q drawn as stems of height w_l = p(x, z_l)/q(z_l|x) (scaled).
    Draws where p(z|x) > q(z|x) get large weights, the others small ones."""
    fig, ax = _axes(ax, (7, 3.6))
    grid = np.linspace(-4, 4, 600)
    post_mean, post_std, q_mean, q_std = 1.2, 0.45, 0.9, 0.6
    ax.plot(grid, _normal_pdf(grid, 0, 1), "k--", lw=1, label=r"prior $p(z)$")
    ax.plot(
        grid,
        _normal_pdf(grid, post_mean, post_std),
        color="C3",
        lw=2,
        label=r"true posterior $p_\theta(z|x)$",
    )
    ax.plot(
        grid, _normal_pdf(grid, q_mean, q_std), color="C0", lw=2, label=r"proposal $q_\phi(z|x)$"
    )
    z = np.random.default_rng(seed).normal(q_mean, q_std, num_samples)
    w = _normal_pdf(z, post_mean, post_std) / _normal_pdf(z, q_mean, q_std)  # w_l / p(x)
    heights = 0.8 * w / w.max()
    ax.vlines(z, 0, -0.25 * heights, color="C2", lw=2)
    ax.plot(
        z, -0.25 * heights, "o", color="C2", ms=4, label=r"draws $z_l\sim q$, stem $\propto w_l$"
    )
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel("one latent dimension $z$")
    ax.set_yticks([])
    ax.set_title(
        r"importance sampling: $p_\theta(x) \approx \frac{1}{L}\sum_l w_l$, "
        r"$w_l = p_\theta(x, z_l)/q_\phi(z_l|x)$"
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def shell_diagram(dim: int = 20, axes=None):
    """Two panels. Left: the density of the length ||z|| of z ~ N(0, I_dim) (a chi distribution),
    concentrated near sqrt(dim). Right: two codes on that shell, the straight line between them
    (its midpoint falls inside the shell) and the arc (which stays on it)."""
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    fig = axes[0].figure
    r = np.linspace(0.01, 2 * math.sqrt(dim), 600)
    log_density = (
        (dim - 1) * np.log(r) - r**2 / 2 - (dim / 2 - 1) * math.log(2) - math.lgamma(dim / 2)
    )
    axes[0].plot(r, np.exp(log_density), color="C0")
    axes[0].axvline(math.sqrt(dim), color="k", ls="--", lw=1)
    axes[0].text(math.sqrt(dim), 0.02, rf" $\sqrt{{{dim}}}$", fontsize=10)
    axes[0].set_xlabel(r"length $\Vert z\Vert$ of a prior code")
    axes[0].set_ylabel("density")
    axes[0].set_title(rf"$z\sim\mathcal{{N}}(0, I_{{{dim}}})$: almost all codes lie near a shell")

    ax = axes[1]
    radius = math.sqrt(dim)
    angles = np.linspace(0, 2 * math.pi, 400)
    ax.fill(radius * np.cos(angles), radius * np.sin(angles), color="C0", alpha=0.07)
    ax.plot(radius * np.cos(angles), radius * np.sin(angles), color="C0", lw=1, label="the shell")
    a, b = np.radians(160), np.radians(60)
    za, zb = radius * np.array([np.cos(a), np.sin(a)]), radius * np.array([np.cos(b), np.sin(b)])
    ax.plot(*zip(za, zb), color="C3", lw=2, label="linear path")
    arc = np.linspace(a, b, 100)
    ax.plot(
        radius * np.cos(arc), radius * np.sin(arc), color="C2", lw=2, label="spherical path (arc)"
    )
    ax.plot(*((za + zb) / 2), "o", color="C3")
    mid = (a + b) / 2
    ax.plot(radius * np.cos(mid), radius * np.sin(mid), "o", color="C2")
    ax.plot(*za, "ko")
    ax.plot(*zb, "ko")
    ax.text(*(za * 1.08), "$z_A$", ha="right")
    ax.text(*(zb * 1.08), "$z_B$")
    ax.plot(0, 0, "k+")
    ax.set_aspect("equal")
    ax.set_xlim(-1.3 * radius, 1.3 * radius)
    ax.set_ylim(-1.1 * radius, 1.35 * radius)
    ax.axis("off")
    ax.set_title("a line cuts inside the shell, an arc stays on it")
    ax.legend(fontsize=8, loc="lower center")
    fig.tight_layout()
    return fig


def draw_extent(ax, low, high, label: str = "extent of the decoded grid", **style):
    """Draw the rectangle [low[0], high[0]] x [low[1], high[1]] on a 2-d scatter ``ax``."""
    style = {"fill": False, "edgecolor": "k", "lw": 1.5, "ls": "--", **style}
    ax.add_patch(
        Rectangle((low[0], low[1]), high[0] - low[0], high[1] - low[1], label=label, **style)
    )
    ax.legend(fontsize=7, loc="upper right")
    return ax.figure


@torch.no_grad()
def manifold_over_box(model, low, high, n: int = 15, ax=None, title: str | None = None):
    """Decode an n x n grid spaced evenly over the box [low, high] of a 2-d latent space (z1
    left to right, z2 bottom to top), for models whose codes do not follow N(0, I), such as an
    auto-encoder's."""
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError("manifold_over_box needs a model with latent_dim=2.")
    z1 = torch.linspace(float(low[0]), float(high[0]), n)
    z2 = torch.linspace(float(low[1]), float(high[1]), n).flip(0)
    grid = torch.stack(torch.meshgrid(z1, z2, indexing="xy"), -1).reshape(-1, 2)
    images = model.decode_mean(grid).cpu()
    fig = image_grid(images, ncols=n, ax=ax, scale=0.6)
    axis = fig.axes[0] if ax is None else ax
    axis.set_xlabel(f"z1 from {z1[0]:.2f} to {z1[-1]:.2f}")
    axis.set_ylabel(f"z2 from {z2[0]:.2f} (top) to {z2[-1]:.2f}")
    axis.set_title(title or "decoded grid")
    return fig
