"""Figures the lessons share. matplotlib only; every function returns its figure."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from ._checks import to_numpy
from .images import tile


def image_grid(
    images,
    ncols: int | None = None,
    image_shape=(28, 28),
    title: str | None = None,
    titles=None,
    ax=None,
    scale: float = 1.0,
):
    """Show images (N, pixels) or (N, H, W) as one grid. titles: optional label per image."""
    images = to_numpy(images).reshape(-1, *image_shape)
    n = len(images)
    if n == 0:
        raise ValueError("images is empty; pass at least one image.")
    ncols = ncols or min(n, 10)
    nrows = math.ceil(n / ncols)
    if ax is None:
        fig, ax = plt.subplots(
            figsize=(scale * ncols * 0.9, scale * nrows * 0.9 + (0.4 if title else 0))
        )
    else:
        fig = ax.figure
    h, w = image_shape
    canvas = tile(images, ncols, pad=2, background=1.0)[1:-1, 1:-1]  # 1-pixel frame per image
    ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if titles is not None:
        for i, label in enumerate(titles):
            r, c = divmod(i, ncols)
            ax.text(
                c * (w + 2) + w / 2 + 1,
                r * (h + 2),
                str(label),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def latent_scatter(
    codes, labels=None, title: str | None = None, ax=None, s: float = 4, legend: bool = True
):
    """Scatter 2-D codes (N, 2), coloured by digit label."""
    codes = to_numpy(codes)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    else:
        fig = ax.figure
    if labels is None:
        ax.scatter(codes[:, 0], codes[:, 1], s=s, alpha=0.6)
    else:
        labels = to_numpy(labels)
        cmap = plt.get_cmap("tab10")
        for digit in np.unique(labels):
            keep = labels == digit
            ax.scatter(
                codes[keep, 0],
                codes[keep, 1],
                s=s,
                color=cmap(int(digit) % 10),
                label=str(digit),
                alpha=0.7,
            )
        if legend:
            ax.legend(markerscale=3, fontsize=7, title="digit", loc="best", ncols=2)
    ax.set_xlabel("dimension 1")
    ax.set_ylabel("dimension 2")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def tsne(codes, seed: int = 0, perplexity: float = 30.0) -> np.ndarray:
    """scikit-learn's t-SNE of codes (N, D) -> (N, 2), PCA-initialised and seeded."""
    from sklearn.manifold import TSNE

    return TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, learning_rate="auto"
    ).fit_transform(to_numpy(codes).astype(np.float32))


@torch.no_grad()
def manifold_2d(
    model,
    n: int = 15,
    extent: float = 0.95,
    image_shape=(28, 28),
    ax=None,
    title: str | None = None,
):
    """Decode a regular grid of a 2-D latent space.

    The grid is spaced by quantiles of N(0, 1) from (1 - extent)/2 to (1 + extent)/2, so it
    covers the prior evenly.
    """
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError("manifold_2d needs a model with latent_dim=2.")
    probs = torch.linspace((1 - extent) / 2, (1 + extent) / 2, n)
    values = torch.distributions.Normal(0.0, 1.0).icdf(probs)
    grid = torch.stack(torch.meshgrid(values, values.flip(0), indexing="xy"), -1).reshape(-1, 2)
    images = model.decode_mean(grid.to(model.device)).cpu()
    fig = image_grid(images, ncols=n, image_shape=image_shape, ax=ax, scale=0.6)
    axis = fig.axes[0] if ax is None else ax
    axis.set_xlabel(f"z1 from {values[0]:.2f} to {values[-1]:.2f}")
    axis.set_ylabel(f"z2 from {values[-1]:.2f} (top) to {values[0]:.2f}")
    axis.set_title(title or "decoded 2-D latent manifold")
    return fig


def training_curves(
    histories: dict,
    ylabel: str = "nats per image",
    ax=None,
    title: str | None = None,
    test: bool = True,
):
    """Plot per-epoch train (solid) and test (dashed) curves of several ``History`` objects."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    for i, (name, history) in enumerate(histories.items()):
        color = plt.get_cmap("tab10")(i)
        epochs = np.arange(1, len(history.train) + 1)
        ax.plot(epochs, history.train, color=color, label=f"{name} (train)")
        if test and history.test:
            ax.plot(epochs, history.test, color=color, linestyle="--", label=f"{name} (test)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
