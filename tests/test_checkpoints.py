"""train_or_load: trains once, loads after, and retrains (with a warning) on a bad cache file."""

import pytest
import torch

from vae_tutorial import checkpoints
from vae_tutorial.models import VAE
from vae_tutorial.training import History


def make(calls):
    def build():
        torch.manual_seed(0)
        return VAE(latent_dim=2, hidden_dim=8)

    def train(model):
        calls.append(1)
        with torch.no_grad():
            model.decoder[0].bias.fill_(0.25)
        return History("elbo", [-200.0], [-210.0], [1.0])

    return build, train


def test_trains_once_then_loads(tmp_path):
    calls = []
    build, train = make(calls)
    model, history = checkpoints.train_or_load("tiny", build, train, {"a": 1}, cache_dir=tmp_path)
    again, history2 = checkpoints.train_or_load("tiny", build, train, {"a": 1}, cache_dir=tmp_path)
    assert calls == [1]
    assert torch.equal(again.decoder[0].bias, torch.full((8,), 0.25))
    assert history2.to_dict() == history.to_dict()
    files = [p for p in (tmp_path / "models").iterdir() if p.is_file()]
    assert len(files) == 1 and files[0].suffix == ".pt"  # no temporary files left behind
    # a different config is a different file
    checkpoints.train_or_load("tiny", build, train, {"a": 2}, cache_dir=tmp_path)
    assert calls == [1, 1]


def test_broken_file_is_retrained_with_a_warning(tmp_path):
    calls = []
    build, train = make(calls)
    checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path)
    (path,) = (tmp_path / "models").glob("*.pt")
    path.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="retraining"):
        model, _ = checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path)
    assert calls == [1, 1]
    assert torch.equal(model.decoder[0].bias, torch.full((8,), 0.25))
    # and the rewritten file loads again without training
    checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path)
    assert calls == [1, 1]


def test_stale_file_is_retrained(tmp_path):
    calls = []
    build, train = make(calls)
    checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path)
    (path,) = (tmp_path / "models").glob("*.pt")
    saved = torch.load(path, weights_only=True)
    saved["recipe"]["recipe_version"] = -1
    torch.save(saved, path)
    with pytest.warns(RuntimeWarning, match="different recipe"):
        checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path)
    assert calls == [1, 1]


def test_unknown_shared_model():
    with pytest.raises(ValueError, match="vae-20"):
        checkpoints.shared_model("vae-3")


def test_shared_model_initial_weights_are_seeded(monkeypatch):
    """Two processes must train the same shared model: the build step seeds its weights."""

    def fake_train_or_load(name, build, train, config, cache_dir=None):
        torch.manual_seed(torch.seed())  # whatever random state the caller left behind
        return build(), None

    monkeypatch.setattr(checkpoints, "train_or_load", fake_train_or_load)
    first, _ = checkpoints.shared_model("vae-2", progress=False)
    second, _ = checkpoints.shared_model("vae-2", progress=False)
    assert torch.equal(first.decoder[0].weight, second.decoder[0].weight)


def test_shared_models_train_on_the_cpu(monkeypatch, tmp_path):
    seen = {}

    def fake_fit(model, x, **kwargs):
        seen.update(kwargs)
        return History("elbo", [-200.0], [-210.0], [1.0])

    monkeypatch.setattr(checkpoints, "fit", fake_fit)
    model, _ = checkpoints.shared_model("vae-2", progress=False, cache_dir=tmp_path)
    assert seen["device"] == "cpu" and model.device.type == "cpu" and not model.training
