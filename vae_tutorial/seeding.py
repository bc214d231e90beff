"""One seed for a whole run: ``VAE_TUTORIAL_SEED`` (default 0) shifts every lesson's randomness.

Lessons, shared models and the data's binary draws all start from :func:`base_seed`, so setting the
variable before starting JupyterLab (or pytest) gives a different but equally valid run. A lesson's
checks must hold under any seed; that is how the series proves its claims do not depend on luck.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

SEED_ENV = "VAE_TUTORIAL_SEED"


def base_seed() -> int:
    """The run's seed: the integer in ``$VAE_TUTORIAL_SEED``, or 0 when it is unset or empty."""
    text = os.environ.get(SEED_ENV, "").strip()
    if not text:
        return 0
    try:
        seed = int(text)
    except ValueError:
        raise ValueError(
            f"{SEED_ENV}={text!r} is not an integer; set it to a whole number such as 1, "
            "or unset it."
        ) from None
    if seed < 0:
        raise ValueError(f"{SEED_ENV}={seed} is negative; use a whole number >= 0.")
    return seed


def resolve_seed(seed: int | None) -> int:
    """``seed`` itself, or the run's :func:`base_seed` when it is None."""
    return base_seed() if seed is None else int(seed)


def seed_everything(seed: int | None = None) -> torch.Generator:
    """Seed Python, NumPy and torch with ``seed`` (None: the run's seed); return a torch generator
    seeded the same way."""
    seed = resolve_seed(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def generator(offset: int = 0) -> torch.Generator:
    """A fresh CPU torch generator seeded with the run's seed plus ``offset`` (one per purpose)."""
    return torch.Generator().manual_seed(base_seed() + offset)


def numpy_rng(offset: int = 0) -> np.random.Generator:
    """A fresh NumPy generator seeded with the run's seed plus ``offset``."""
    return np.random.default_rng(base_seed() + offset)


def setup_lesson(threads: int | None = None) -> int:
    """Start a lesson: seed Python, NumPy and torch with the run's seed and return it.

    threads: torch's CPU threads for this kernel (None keeps torch's choice, which follows
    ``OMP_NUM_THREADS``).
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    seed = base_seed()
    seed_everything(seed)
    return seed
