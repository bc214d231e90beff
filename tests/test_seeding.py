"""VAE_TUTORIAL_SEED shifts every default seed; the data split never moves."""

import pytest
import torch

from vae_tutorial import data, seeding
from vae_tutorial.checkpoints import shared_model


def test_base_seed_reads_the_environment(monkeypatch):
    monkeypatch.delenv("VAE_TUTORIAL_SEED", raising=False)
    assert seeding.base_seed() == 0
    monkeypatch.setenv("VAE_TUTORIAL_SEED", " 12 ")
    assert seeding.base_seed() == 12
    assert seeding.resolve_seed(None) == 12 and seeding.resolve_seed(3) == 3
    a = torch.rand(3, generator=seeding.generator(1))
    monkeypatch.setenv("VAE_TUTORIAL_SEED", "13")
    b = torch.rand(3, generator=seeding.generator(0))
    assert torch.equal(a, b), "generator(offset) is seeded with base_seed() + offset"


@pytest.mark.parametrize("bad", ["one", "1.5", "-2"])
def test_a_bad_seed_is_one_clear_sentence(monkeypatch, bad):
    monkeypatch.setenv("VAE_TUTORIAL_SEED", bad)
    with pytest.raises(ValueError, match="VAE_TUTORIAL_SEED"):
        seeding.base_seed()


def test_the_seed_changes_binary_draws_not_the_split(monkeypatch):
    monkeypatch.delenv("VAE_TUTORIAL_SEED", raising=False)
    default = data.load_mnist()
    monkeypatch.setenv("VAE_TUTORIAL_SEED", "5")
    shifted = data.load_mnist()
    assert torch.equal(default.test_y, shifted.test_y)
    assert torch.equal(shifted.test_x, data.load_mnist(seed=5).test_x)
    # same images, other black-and-white draw: a few percent of pixels differ
    changed = (default.test_x != shifted.test_x).float().mean()
    assert 0.01 < changed < 0.2


def test_setup_lesson_seeds_torch_and_numpy(monkeypatch):
    import numpy as np

    monkeypatch.setenv("VAE_TUTORIAL_SEED", "4")
    assert seeding.setup_lesson() == 4
    first = torch.rand(2), np.random.rand(2)
    seeding.setup_lesson()
    second = torch.rand(2), np.random.rand(2)
    assert torch.equal(first[0], second[0]) and (first[1] == second[1]).all()


def test_shared_model_seed_follows_the_environment(monkeypatch, tmp_path):
    """Another run seed names another cache file (so the model is retrained, not reused)."""
    calls = []

    def fake_train_or_load(name, build, train, config, cache_dir=None):
        calls.append(config["seed"])
        return build(), None

    monkeypatch.setattr("vae_tutorial.checkpoints.train_or_load", fake_train_or_load)
    monkeypatch.setenv("VAE_TUTORIAL_SEED", "3")
    shared_model("vae-2", cache_dir=tmp_path)
    monkeypatch.delenv("VAE_TUTORIAL_SEED")
    shared_model("vae-2", cache_dir=tmp_path)
    assert calls == [3, 0]
