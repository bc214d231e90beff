"""Input checks shared by every module: one clear ``ValueError`` sentence per problem."""

from __future__ import annotations

import numpy as np
import torch


def check_choice(name: str, value, choices) -> None:
    """Raise if ``value`` is not one of ``choices``, listing the allowed ones."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is not a known option; use one of {allowed}.")


def check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def check_nonempty(name: str, value) -> None:
    """Raise unless ``value`` (a tensor, array or sequence) holds at least one example."""
    if len(value) == 0:
        raise ValueError(f"{name} is empty; pass at least one example.")


def to_numpy(x, dtype=None) -> np.ndarray:
    """A tensor (any device, with or without gradient) or array-like as a NumPy array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def check_data(
    x, name: str = "x", dim: int | None = None, binary: bool = False, unit_interval: bool = True
) -> torch.Tensor:
    """Check a batch of flattened images and return it.

    x: (batch, dim) floating tensor, batch >= 1; values in [0, 1] (``unit_interval``), in {0, 1}
    (``binary``).
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor of shape (batch, {dim or 'pixels'}), got "
            f"{type(x).__name__}; convert with torch.as_tensor({name}, dtype=torch.float32)."
        )
    if not x.is_floating_point():
        raise ValueError(
            f"{name} has dtype {x.dtype}; pass floating-point pixels, e.g. {name}.float() / 255."
        )
    if x.dim() != 2:
        hint = f" (flatten images with {name}.reshape(len({name}), -1))" if x.dim() > 2 else ""
        raise ValueError(
            f"{name} must have shape (batch, {dim or 'pixels'}), got {tuple(x.shape)}{hint}."
        )
    check_nonempty(name, x)
    if dim is not None and x.shape[1] != dim:
        raise ValueError(
            f"{name} has {x.shape[1]} values per example but the model expects {dim}; "
            "use data of the size the model was built for."
        )
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the data first.")
    if unit_interval and ((x < 0).any() or (x > 1).any()):
        raise ValueError(
            f"{name} has values outside [0, 1] (min {x.min().item():.3g}, max "
            f"{x.max().item():.3g}); scale pixels to [0, 1], e.g. {name} / 255."
        )
    if binary and ((x != 0) & (x != 1)).any():
        raise ValueError(
            f"{name} has grey levels but the model has a Bernoulli likelihood, which needs "
            f"pixels in {{0, 1}}; binarize with torch.bernoulli({name}) or use "
            "likelihood='gaussian'."
        )
    return x


def model_input(model, x, name: str = "x") -> torch.Tensor:
    """``model.check_input(x, name)`` where the model has one (checked, maybe converted), else x."""
    check = getattr(model, "check_input", None)
    return check(x, name) if check is not None else x
