"""Diagrams for the lessons, drawn with matplotlib: each function returns the figure.

- :func:`generative_story`: z ~ p(z), then x ~ p_theta(x|z); the encoder q_phi(z|x) goes back.
- :func:`encoder_decoder`: the VAE's two networks, with (mu, log sigma), the noise and the ELBO.
- :func:`reparameterization_graphs`: the computational graph before and after the trick, with
  where the gradient with respect to phi cannot and can flow.
- :func:`posterior_contours`: a 2-D posterior p(z|x) beside a diagonal Gaussian q.
- :func:`elbo_kl_bars`: log p(x) = ELBO + KL as stacked bars, one bar per q.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

RANDOM = "#fde2c8"  # random nodes (drawn from a distribution)
DETERMINISTIC = "#d6e6f7"  # deterministic nodes (computed by a function)
PARAMETER = "#e3f1dc"  # parameters we learn


def _node(ax, xy, text, colour, width=0.2, height=0.13, round_=True, fontsize=11):
    x, y = xy
    style = "round,pad=0.005,rounding_size=0.025" if round_ else "square,pad=0.005"
    box = FancyBboxPatch(
        (x - width / 2, y - height / 2),
        width,
        height,
        boxstyle=style,
        facecolor=colour,
        edgecolor="black",
        linewidth=1.2,
    )
    ax.add_patch(box)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return box


def _arrow(ax, start, end, colour="black", style="-|>", linestyle="-", width=1.4, rad=0.0):
    arrow = FancyArrowPatch(
        start,
        end,
        arrowstyle=style,
        mutation_scale=14,
        color=colour,
        linewidth=width,
        linestyle=linestyle,
        connectionstyle=f"arc3,rad={rad}",
        shrinkA=2,
        shrinkB=2,
    )
    ax.add_patch(arrow)
    return arrow


def _blank(ax, xlim=(-0.02, 1.02), ylim=(0, 1)):
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("auto")
    ax.axis("off")


def _legend(ax, entries, loc="lower center", ncol=3):
    from matplotlib.patches import Patch

    handles = [Patch(facecolor=c, edgecolor="black", label=label) for label, c in entries]
    ax.legend(handles=handles, loc=loc, ncol=ncol, frameon=False, fontsize=9)


def generative_story(figsize=(9, 3.2)):
    """The VAE as a generative model: z ~ p(z) = N(0, I), then x ~ p_theta(x|z) (solid arrows);
    the encoder q_phi(z|x) runs the other way and approximates p_theta(z|x) (dashed arrow)."""
    fig, ax = plt.subplots(figsize=figsize)
    _blank(ax)
    _node(ax, (0.1, 0.62), "$p(z) = \\mathcal{N}(0, I)$\nprior", RANDOM, width=0.17, height=0.2)
    _node(ax, (0.42, 0.62), "code $z$\n(20 numbers)", RANDOM, width=0.16, height=0.2)
    _node(ax, (0.9, 0.62), "image $x$\n(784 pixels)", RANDOM, width=0.16, height=0.2)
    _arrow(ax, (0.19, 0.62), (0.34, 0.62))
    ax.text(0.265, 0.69, "1. draw", ha="center", fontsize=10)
    _arrow(ax, (0.5, 0.64), (0.82, 0.64))
    ax.text(
        0.66,
        0.70,
        "2. draw $x \\sim p_\\theta(x \\mid z)$\ndecoder, parameters $\\theta$",
        ha="center",
        fontsize=10,
    )
    _arrow(ax, (0.82, 0.53), (0.5, 0.53), colour="tab:blue", linestyle="--", rad=-0.2)
    ax.text(
        0.66,
        0.12,
        "inference: $q_\\phi(z \\mid x) \\approx p_\\theta(z \\mid x)$\n"
        "encoder, parameters $\\phi$ (one network for all images)",
        ha="center",
        fontsize=10,
        color="tab:blue",
    )
    ax.set_title("The generative story of a VAE, and the encoder that runs it backwards")
    _legend(ax, [("random variable or distribution", RANDOM)], loc="lower left", ncol=1)
    fig.tight_layout()
    return fig


def encoder_decoder(figsize=(10, 3.4)):
    """The encoder/decoder pair during training: x -> EncoderNeuralNet_phi -> (mu, log sigma);
    z = mu + sigma * eps with eps ~ N(0, I); z -> DecoderNeuralNet_theta -> p_theta(x|z); the ELBO
    adds the reconstruction term and subtracts KL(q || p(z))."""
    fig, ax = plt.subplots(figsize=figsize)
    _blank(ax)
    y = 0.6
    _node(ax, (0.06, y), "$x$", RANDOM, width=0.07)
    _node(ax, (0.22, y), "encoder\nnetwork $\\phi$", PARAMETER, width=0.14, height=0.2)
    _node(ax, (0.4, y), "$\\mu,\\ \\log\\sigma$", DETERMINISTIC, width=0.13)
    _node(ax, (0.58, y), "$z = \\mu + \\sigma \\odot \\varepsilon$", DETERMINISTIC, width=0.17)
    _node(ax, (0.58, 0.9), "$\\varepsilon \\sim \\mathcal{N}(0, I)$", RANDOM, width=0.16)
    _node(ax, (0.77, y), "decoder\nnetwork $\\theta$", PARAMETER, width=0.14, height=0.2)
    _node(ax, (0.93, y), "$p_\\theta(x \\mid z)$", DETERMINISTIC, width=0.12)
    for a, b in [(0.095, 0.15), (0.29, 0.335), (0.465, 0.495), (0.665, 0.70), (0.84, 0.87)]:
        _arrow(ax, (a, y), (b, y))
    _arrow(ax, (0.58, 0.835), (0.58, 0.665))
    ax.text(
        0.4,
        0.3,
        "$q_\\phi(z \\mid x) = \\mathcal{N}(z;\\ \\mu, \\mathrm{diag}\\,\\sigma^2)$",
        ha="center",
        fontsize=11,
        color="tab:blue",
    )
    ax.text(
        0.5,
        0.13,
        r"ELBO $= \mathbb{E}_{q_\phi}[\log p_\theta(x \mid z)]$ (reconstruction)"
        r" $-\ D_{KL}(q_\phi(z \mid x) \,\Vert\, p(z))$ (keeps codes near the prior)",
        ha="center",
        fontsize=10.5,
    )
    ax.set_title("Encoder and decoder: two networks, trained together on one objective")
    fig.tight_layout()
    return fig


def reparameterization_graphs(figsize=(11, 4.2)):
    """Two computational graphs of f(z), z ~ q_phi(z|x). Left, sampling z directly: the random
    node sits between phi and f, and the gradient cannot pass it. Right, z = mu + sigma * eps: the
    randomness moves to eps, off the path, and the gradient flows from f back to phi."""
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    titles = [
        "Before: $z \\sim q_\\phi(z \\mid x)$ sampled directly",
        "After: $z = g(\\varepsilon, \\phi, x) = \\mu + \\sigma \\odot \\varepsilon$",
    ]
    for ax, title in zip(axes, titles):
        _blank(ax)
        ax.set_title(title, fontsize=11)
    # shared forward path: phi -> (mu, log sigma) -> z -> f
    xs = {"phi": 0.12, "params": 0.38, "z": 0.64, "f": 0.9}
    y = 0.6
    for index, ax in enumerate(axes):
        after = index == 1
        _node(ax, (xs["phi"], y), "$\\phi$, $x$", PARAMETER, width=0.14)
        _node(ax, (xs["params"], y), "$\\mu,\\ \\log\\sigma$", DETERMINISTIC, width=0.17)
        z_colour = DETERMINISTIC if after else RANDOM
        z_text = "$z = \\mu + \\sigma \\odot \\varepsilon$" if after else "$z \\sim q_\\phi$"
        _node(ax, (xs["z"], y), z_text, z_colour, width=0.2 if after else 0.13)
        _node(ax, (xs["f"], y), "$f(z)$", DETERMINISTIC, width=0.11)
        z_half = 0.1 if after else 0.065
        _arrow(ax, (xs["phi"] + 0.07, y), (xs["params"] - 0.085, y))
        _arrow(ax, (xs["params"] + 0.085, y), (xs["z"] - z_half, y))
        _arrow(ax, (xs["z"] + z_half, y), (xs["f"] - 0.055, y))
        # the backward pass, drawn under the forward one
        yb = 0.36
        _arrow(ax, (xs["f"], y - 0.08), (xs["z"] + 0.02, yb), colour="tab:red", rad=-0.2)
        if after:
            _node(ax, (xs["z"], 0.9), "$\\varepsilon \\sim \\mathcal{N}(0, I)$", RANDOM, width=0.2)
            _arrow(ax, (xs["z"], 0.83), (xs["z"], y + 0.07))
            _arrow(ax, (xs["z"] - 0.02, yb), (xs["params"] + 0.02, yb), colour="tab:red")
            _arrow(ax, (xs["params"] - 0.02, yb), (xs["phi"] + 0.02, yb), colour="tab:red")
            ax.text(
                0.5,
                0.18,
                r"$\nabla_\phi f(\mu + \sigma \odot \varepsilon)$ exists: the noise"
                " $\\varepsilon$\n"
                "is off the path, so $\\nabla_\\phi \\mathbb{E}_{p(\\varepsilon)}[f]"
                " = \\mathbb{E}_{p(\\varepsilon)}[\\nabla_\\phi f]$",
                ha="center",
                fontsize=10,
                color="tab:red",
            )
        else:
            ax.plot([xs["z"] - 0.06], [yb], marker="x", color="tab:red", ms=18, mew=3)
            _arrow(
                ax,
                (xs["z"] - 0.09, yb),
                (xs["phi"] + 0.02, yb),
                colour="0.6",
                linestyle=":",
                style="-",
            )
            ax.text(
                0.5,
                0.18,
                "a drawn number has no derivative in $\\phi$: the gradient stops here,\n"
                r"and $\nabla_\phi \mathbb{E}_{q_\phi}[f] \neq"
                r" \mathbb{E}_{q_\phi}[\nabla_\phi f]"
                " = 0$, because $\\phi$ is inside the distribution",
                ha="center",
                fontsize=10,
                color="tab:red",
            )
        ax.text(0.5, 0.42, "gradient (backward pass)", ha="center", fontsize=9, color="tab:red")
    _legend(
        axes[1],
        [("random", RANDOM), ("deterministic", DETERMINISTIC), ("learned", PARAMETER)],
        loc="lower center",
    )
    axes[1].get_legend().set_bbox_to_anchor((0.5, -0.1))
    fig.tight_layout()
    return fig


def _gaussian_grid(mean, covariance, extent, n=200):
    mean = np.asarray(mean, dtype=float)
    covariance = np.asarray(covariance, dtype=float)
    xs = np.linspace(extent[0], extent[1], n)
    ys = np.linspace(extent[2], extent[3], n)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx - mean[0], gy - mean[1]], axis=-1)
    precision = np.linalg.inv(covariance)
    quad = np.einsum("...i,ij,...j->...", points, precision, points)
    density = np.exp(-0.5 * quad) / (2 * np.pi * np.sqrt(np.linalg.det(covariance)))
    return gx, gy, density


def posterior_contours(
    posterior_mean,
    posterior_covariance,
    q_mean,
    q_std,
    title: str = "True posterior and the best diagonal q",
    ax=None,
):
    """Contours (1, 2 and 3 standard deviations) of a 2-D Gaussian posterior p(z|x) =
    N(posterior_mean, posterior_covariance) and of a diagonal q = N(q_mean, diag q_std^2).

    posterior_mean, q_mean, q_std: length 2. posterior_covariance: (2, 2)."""
    mean = np.asarray(posterior_mean, dtype=float)
    covariance = np.asarray(posterior_covariance, dtype=float)
    q_mean = np.asarray(q_mean, dtype=float)
    q_cov = np.diag(np.asarray(q_std, dtype=float) ** 2)
    if mean.shape != (2,) or covariance.shape != (2, 2) or q_mean.shape != (2,):
        raise ValueError(
            "posterior_contours draws 2-D Gaussians: pass means of length 2 and a (2, 2) "
            "covariance."
        )
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5))
    else:
        fig = ax.figure
    half = 3.5 * np.sqrt(max(covariance[0, 0], covariance[1, 1], q_cov[0, 0], q_cov[1, 1]))
    extent = (mean[0] - half, mean[0] + half, mean[1] - half, mean[1] + half)
    for m, c, colour, style in [
        (mean, covariance, "black", "-"),
        (q_mean, q_cov, "tab:orange", "--"),
    ]:
        gx, gy, density = _gaussian_grid(m, c, extent)
        peak = 1 / (2 * np.pi * np.sqrt(np.linalg.det(c)))
        levels = sorted(peak * np.exp(-0.5 * np.array([1.0, 2.0, 3.0]) ** 2))
        ax.contour(gx, gy, density, levels=levels, colors=colour, linestyles=style)
    ax.plot([], [], color="black", label="true posterior $p_\\theta(z \\mid x)$")
    ax.plot([], [], color="tab:orange", linestyle="--", label="diagonal $q(z \\mid x)$")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", fontsize=9)
    return fig


def elbo_kl_bars(
    log_px: float,
    elbos: Sequence[float],
    kls: Sequence[float],
    labels: Sequence[str],
    ax=None,
):
    """One bar per q: the ELBO, with the KL to the true posterior stacked on top, so that every bar
    ends at log p(x) (drawn as a line). All in nats; ELBOs and log p(x) may be negative."""
    elbos = np.asarray(elbos, dtype=float)
    kls = np.asarray(kls, dtype=float)
    if not (len(elbos) == len(kls) == len(labels)):
        raise ValueError("elbo_kl_bars needs one ELBO, one KL and one label per q.")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    positions = np.arange(len(elbos))
    ax.bar(positions, elbos, color="tab:blue", width=0.55, label="ELBO $\\mathcal{L}$")
    ax.bar(
        positions,
        kls,
        bottom=elbos,
        color="tab:red",
        alpha=0.8,
        hatch="//",
        edgecolor="black",
        width=0.4,
        label="$D_{KL}(q \\,\\Vert\\, p_\\theta(z \\mid x))$",
    )
    ax.axhline(log_px, color="black", linewidth=1.5, label="$\\log p_\\theta(x)$")
    ax.axhline(0, color="0.5", linewidth=0.8)
    ax.set_xticks(positions)
    ax.set_xticklabels(labels)
    low, high = min(0.0, elbos.min()), max(0.0, log_px, (elbos + kls).max())
    ax.set_ylim(low - 0.05 * (high - low), high + 0.45 * (high - low))  # room for the legend
    ax.set_ylabel("nats")
    ax.set_title("$\\log p_\\theta(x) = \\mathcal{L} + D_{KL}$ for three $q$", fontsize=11)
    ax.legend(fontsize=9, loc="upper center", ncol=3)
    return fig
