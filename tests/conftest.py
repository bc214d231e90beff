"""Shared test set-up.

Trained models are cached in ``.pytest_cache/vae-tutorial`` inside the repository (unless
``VAE_TUTORIAL_CACHE`` is set), so the suite never reads the user's own cache: a fresh clone loads
the models shipped with the package and trains everything else from scratch. Notebook kernels
started by nbval inherit the setting.
"""

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("VAE_TUTORIAL_CACHE", str(ROOT / ".pytest_cache" / "vae-tutorial"))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def mnist():
    from vae_tutorial.data import load_mnist

    return load_mnist(source="embedded")


@pytest.fixture(scope="session")
def mnist_grey():
    from vae_tutorial.data import load_mnist

    return load_mnist(source="embedded", binarize=None)
