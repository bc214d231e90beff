"""Operations on a trained model's latent space that need no widgets: codes of images, images of
codes, interpolation (linear and spherical), traversals, attribute vectors and unit activity.

Codes and images come back as NumPy arrays (float32), ready for plotting or for the views in
:mod:`vae_tutorial.widgets`. images: (n, input_dim) in [0, 1]; codes: (n, latent_dim).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ._checks import check_choice, check_data, check_positive_int
from .latent_metrics import unit_activity

METHODS = ("linear", "spherical")


def as_images(x, model, name: str = "images") -> torch.Tensor:
    """A batch of images, tensor or array, (n, input_dim) or (n, height, width), as a checked
    float32 CPU tensor (n, input_dim)."""
    x = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}.")
    x = x.reshape(len(x), -1) if x.dim() == 3 else x
    if x.dim() != 2 or x.shape[1] != model.input_dim or len(x) == 0:
        raise ValueError(
            f"{name} must be a batch of images of shape (n, {model.input_dim}); got shape "
            f"{tuple(x.shape)}."
        )
    x = x.detach().cpu().float() if x.is_floating_point() else x
    return check_data(x, name, dim=model.input_dim)


@torch.no_grad()
def mean_codes(model, images, batch_size: int = 1000) -> np.ndarray:
    """The encoder's point codes (mu of q_phi(z|x) for a VAE), in eval mode, ``batch_size`` images
    at a time: images (n, input_dim) -> float32 array (n, latent_dim)."""
    check_positive_int("batch_size", batch_size)
    if len(images) == 0:
        raise ValueError("images is empty; pass at least one image.")
    was_training = model.training
    model.eval()
    try:
        codes = [
            model.embed(images[i : i + batch_size].to(model.device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(codes).numpy().astype(np.float32)


@torch.no_grad()
def decoded_pixels(model, codes) -> np.ndarray:
    """E[x|z] for codes (n, latent_dim) -> pixel probabilities, float32 array (n, input_dim)."""
    z = torch.as_tensor(np.ascontiguousarray(codes, dtype=np.float32), device=model.device)
    return model.decode_mean(z).cpu().numpy()


def latent_activity(model, images) -> np.ndarray:
    """Per-dimension activity Var_x(E_q[z_d]) over images (n, input_dim): (latent_dim,).

    Burda et al. (2016) call a dimension active when this exceeds 0.01: the encoder uses it to
    tell images apart. Inactive dimensions stay at the prior, and their sliders change little.
    """
    return unit_activity(mean_codes(model, images))


def lerp(z_a, z_b, t: float) -> np.ndarray:
    """Linear interpolation (1 - t) z_a + t z_b. z_a, z_b: (latent_dim,)."""
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    return (1.0 - t) * z_a + t * z_b


def slerp(z_a, z_b, t: float) -> np.ndarray:
    """Spherical interpolation along the great circle from z_a to z_b. z_a, z_b: (latent_dim,).

    slerp = sin((1 - t) omega) / sin(omega) z_a + sin(t omega) / sin(omega) z_b, with omega the
    angle between the codes. Under N(0, I) most mass sits near a sphere of radius
    sqrt(latent_dim); the straight line between two codes cuts inside it, the arc stays near it.
    Falls back to the straight line when the codes are (nearly) parallel or one is zero.
    """
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    norms = np.linalg.norm(z_a) * np.linalg.norm(z_b)
    if norms == 0.0:
        return lerp(z_a, z_b, t)
    omega = math.acos(float(np.clip(np.dot(z_a, z_b) / norms, -1.0, 1.0)))
    if math.sin(omega) < 1e-6:
        return lerp(z_a, z_b, t)
    # Weights first, so t = 0 and t = 1 give the endpoints exactly (sin(omega) / sin(omega) = 1).
    weight_a = math.sin((1.0 - t) * omega) / math.sin(omega)
    weight_b = math.sin(t * omega) / math.sin(omega)
    return weight_a * z_a + weight_b * z_b


def interpolate(z_a, z_b, ts, method: str = "linear") -> np.ndarray:
    """Codes along the path from z_a to z_b at each t in ts: (len(ts), latent_dim) float32."""
    check_choice("method", method, METHODS)
    step = lerp if method == "linear" else slerp
    return np.stack([step(z_a, z_b, float(t)) for t in ts]).astype(np.float32)


def traversal(model, code, dims, values) -> np.ndarray:
    """Decode code (latent_dim,) with code[d] set to each value, for each d in dims.

    Returns pixel probabilities (len(dims), len(values), input_dim).
    """
    code = np.asarray(code, dtype=np.float32)
    codes = np.repeat(code[None, None, :], len(dims), axis=0).repeat(len(values), axis=1)
    for row, d in enumerate(dims):
        codes[row, :, d] = values
    flat = decoded_pixels(model, codes.reshape(-1, code.shape[0]))
    return flat.reshape(len(dims), len(values), -1)


def ink(probabilities) -> np.ndarray:
    """Expected number of ink pixels per image: probabilities (n, pixels) -> (n,)."""
    return np.asarray(probabilities, dtype=np.float64).reshape(len(probabilities), -1).sum(axis=1)


def attribute_vector(codes, has, lacks) -> np.ndarray:
    """Mean code of the examples that have an attribute minus the mean of those that lack it.

    codes: (n, latent_dim); has, lacks: boolean masks (n,). This is the "smile vector" recipe.
    """
    codes, has, lacks = np.asarray(codes), np.asarray(has, bool), np.asarray(lacks, bool)
    if not has.any() or not lacks.any():
        raise ValueError("attribute_vector needs at least one example in `has` and in `lacks`.")
    return (codes[has].mean(axis=0) - codes[lacks].mean(axis=0)).astype(np.float32)


def thickness_vector(model, images, labels=None, fraction: float = 0.25) -> np.ndarray:
    """A stroke-thickness direction: codes of the inkiest minus the least inky images.

    images: (n, input_dim) in [0, 1]. Ink is the pixel mass (sum of pixel values). With labels,
    the split is made within each digit class and the class differences are averaged, so the
    direction says "thicker", not "more like a 0 than a 1". Returns (latent_dim,).
    """
    images = as_images(images, model)
    if not 0 < fraction <= 0.5:
        raise ValueError(f"fraction must be in (0, 0.5], got {fraction}.")
    codes = mean_codes(model, images)
    mass = images.sum(dim=1).numpy()
    groups = [np.arange(len(images))]
    if labels is not None:
        labels = np.asarray(labels)
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    parts = []
    for idx in groups:
        k = int(len(idx) * fraction)
        if k < 1:
            continue
        order = idx[np.argsort(mass[idx], kind="stable")]
        parts.append(codes[order[-k:]].mean(axis=0) - codes[order[:k]].mean(axis=0))
    if not parts:
        raise ValueError("thickness_vector needs more images: every group was too small to split.")
    return np.mean(parts, axis=0).astype(np.float32)


def class_vector(model, images, labels, source: int, target: int) -> np.ndarray:
    """The direction from digit ``source`` to digit ``target``: a mean code difference.

    images: (n, input_dim) in [0, 1]; labels: (n,) digit classes. Returns (latent_dim,).
    """
    labels = np.asarray(labels)
    codes = mean_codes(model, as_images(images, model))
    return attribute_vector(codes, labels == target, labels == source)
