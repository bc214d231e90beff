"""train_or_load: trains once, loads after, and retrains (with a warning) on a bad cache file."""

import shutil

import pytest
import torch

from vae_tutorial import checkpoints
from vae_tutorial import semi_supervised as ss
from vae_tutorial.execute import ship_models
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
    monkeypatch.setenv("VAE_TUTORIAL_PRETRAINED", "off")
    seen = {}

    def fake_fit(model, x, **kwargs):
        seen.update(kwargs)
        return History("elbo", [-200.0], [-210.0], [1.0])

    monkeypatch.setattr(checkpoints, "fit", fake_fit)
    model, _ = checkpoints.shared_model("vae-2", progress=False, cache_dir=tmp_path)
    assert seen["device"] == "cpu" and model.device.type == "cpu" and not model.training


def test_shipped_model_is_used_after_the_cache_and_can_be_turned_off(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(checkpoints, "PRETRAINED", shipped)
    calls = []
    build, train = make(calls)
    checkpoints.train_or_load("tiny", build, train, {"a": 1}, cache_dir=tmp_path / "made")
    shipped.mkdir()
    (made,) = (tmp_path / "made" / "models").glob("*.pt")
    shutil.move(made, shipped / made.name)

    model, _ = checkpoints.train_or_load("tiny", build, train, {"a": 1}, cache_dir=tmp_path / "b")
    assert calls == [1]  # loaded, not trained
    assert torch.equal(model.decoder[0].bias, torch.full((8,), 0.25))
    assert not list((tmp_path / "b").glob("models/*.pt"))  # read where it ships, not copied
    checkpoints.train_or_load("tiny", build, train, {"a": 2}, cache_dir=tmp_path / "b")
    assert calls == [1, 1]  # another recipe is another file

    monkeypatch.setenv("VAE_TUTORIAL_PRETRAINED", "off")
    checkpoints.train_or_load("tiny", build, train, {"a": 1}, cache_dir=tmp_path / "c")
    assert calls == [1, 1, 1]
    monkeypatch.setenv("VAE_TUTORIAL_PRETRAINED", "sometimes")
    with pytest.raises(ValueError, match="VAE_TUTORIAL_PRETRAINED"):
        checkpoints.train_or_load("tiny", build, train, {"a": 3}, cache_dir=tmp_path / "c")


def test_a_broken_cache_file_falls_back_to_the_shipped_one(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(checkpoints, "PRETRAINED", shipped)
    calls = []
    build, train = make(calls)
    checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path / "c")
    (path,) = (tmp_path / "c" / "models").glob("*.pt")
    shipped.mkdir()
    shutil.copyfile(path, shipped / path.name)
    path.write_bytes(b"not a torch file")
    with pytest.warns(RuntimeWarning, match="trying the shipped one"):
        checkpoints.train_or_load("tiny", build, train, {}, cache_dir=tmp_path / "c")
    assert calls == [1]


SHIPPED = sorted(checkpoints.PRETRAINED.glob("*.pt"))


def test_shipped_models_match_this_package():
    """Each shipped file is named by the hash of the recipe stored in it, computed with this
    package's version and recipe format, for the default seed and data: after a version bump or a
    recipe change without ``--refresh-pretrained``, the lessons would silently train again."""
    assert len(SHIPPED) >= len(checkpoints.SHARED) + 5, [p.name for p in SHIPPED]
    for path in SHIPPED:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        recipe = saved["recipe"]
        _, file_name = checkpoints.recipe_file_name(recipe["name"], recipe["config"])
        assert path.name == file_name, f"{path.name} holds a recipe that hashes to {file_name}"
        assert recipe["config"].get("seed", 0) == 0, f"{path.name}: not the default seed"
        assert recipe["config"].get("source", "embedded") == "embedded", path.name


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained: no shipped model matches the recipe the lessons ask for")

    for variable in ("VAE_TUTORIAL_SEED", "VAE_TUTORIAL_MNIST", "VAE_TUTORIAL_PRETRAINED"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(checkpoints, "fit", refuse)
    monkeypatch.setattr(ss, "train_m2", refuse)


@pytest.mark.parametrize("name", sorted(checkpoints.SHARED))
def test_every_shared_model_ships(name, no_training, tmp_path):
    model, history = checkpoints.shared_model(name, progress=False, cache_dir=tmp_path)
    assert not model.training and history.epochs == checkpoints.SHARED[name]["epochs"]


def test_lesson_08s_m2_models_ship(no_training, tmp_path):
    for draw in range(5):
        model, history, _ = ss.shared_m2(10, draw=draw, progress=False, cache_dir=tmp_path)
        assert history.epochs == ss.SHARED_M2["epochs"] and len(history.test) == history.epochs


def test_ship_models_replaces_the_files_of_the_same_names(tmp_path):
    trained, shipped = tmp_path / "trained", tmp_path / "shipped"
    trained.mkdir()
    shipped.mkdir()
    old = ["vae-2-aaaaaaaaaaaa.pt", "m2-10-per-class-bbbbbbbbbbbb.pt", "ae-2-cccccccccccc.pt"]
    for name in old:
        (shipped / name).write_bytes(b"old")
    for name in ["vae-2-111111111111.pt", "m2-10-per-class-222222222222.pt"]:
        (trained / name).write_bytes(b"new")
    copied = ship_models(trained, shipped)
    assert copied == ["m2-10-per-class-222222222222.pt", "vae-2-111111111111.pt"]
    assert sorted(p.name for p in shipped.iterdir()) == [
        "ae-2-cccccccccccc.pt",  # not retrained: kept
        "m2-10-per-class-222222222222.pt",
        "vae-2-111111111111.pt",
    ]
