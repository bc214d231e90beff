"""Train-or-load for the models several lessons share, cached in the user's cache folder.

A cache file holds the weights, the training history and the recipe that made them. It is loaded
with ``torch.load(..., weights_only=True)``; a file that is broken or was made by another recipe
is retrained with a warning, never a crash. Files are written atomically (a temporary file in the
same folder, then ``os.replace``), so an interrupted run leaves no half-written model.

The models the lessons ask for at the default seed ship with the package (``pretrained/``, made
by ``python -m vae_tutorial.execute --refresh-pretrained``), so a fresh install opens every lesson
without training. They are looked up after the user's cache and by the same file name, which
hashes the whole recipe: another seed, recipe or package version trains its own model as before.
``VAE_TUTORIAL_PRETRAINED=off`` ignores them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from . import __version__
from .data import cache_root, load_mnist
from .models import VAE, Autoencoder
from .seeding import resolve_seed
from .training import History, fit

# Bump when a recipe changes in a way its config does not show.
RECIPE_VERSION = 2

SHARED = {
    "vae-20": {"kind": "VAE", "latent_dim": 20, "hidden_dim": 400, "epochs": 60},
    "ae-20": {"kind": "Autoencoder", "latent_dim": 20, "hidden_dim": 400, "epochs": 60},
    "vae-2": {"kind": "VAE", "latent_dim": 2, "hidden_dim": 400, "epochs": 60},
    "ae-2": {"kind": "Autoencoder", "latent_dim": 2, "hidden_dim": 400, "epochs": 60},
    "vae-5": {"kind": "VAE", "latent_dim": 5, "hidden_dim": 400, "epochs": 60},
}


PRETRAINED = Path(__file__).with_name("pretrained")
PRETRAINED_SWITCH = "VAE_TUTORIAL_PRETRAINED"


def models_folder(cache_dir: str | os.PathLike | None = None) -> Path:
    return cache_root(cache_dir) / "models"


def use_pretrained() -> bool:
    """False when ``VAE_TUTORIAL_PRETRAINED`` is off/0/false/no: the shipped models are ignored."""
    value = os.environ.get(PRETRAINED_SWITCH, "on").strip().lower()
    if value in ("off", "0", "false", "no"):
        return False
    if value in ("on", "1", "true", "yes", ""):
        return True
    raise ValueError(f"{PRETRAINED_SWITCH}={value!r}: use on or off.")


_DIGEST = 12  # hex digits of the recipe's hash in a file name


def recipe_file_name(name: str, config: dict) -> tuple[dict, str]:
    """The recipe stored with a model and the file name it is cached under."""
    recipe = {
        "name": name,
        "config": config,
        "recipe_version": RECIPE_VERSION,
        "package": __version__,
    }
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:_DIGEST]
    return recipe, f"{name}-{digest}.pt"


def model_name(file_name: str) -> str:
    """The model name in a file name made by :func:`recipe_file_name` (the hash taken off)."""
    return file_name[: -len(f"-{'0' * _DIGEST}.pt")]


def train_or_load(
    name: str,
    build: Callable[[], torch.nn.Module],
    train: Callable[[torch.nn.Module], History],
    config: dict,
    cache_dir: str | os.PathLike | None = None,
):
    """Return ``(model, history)``: from the cache if a valid file for ``config`` exists, else
    from the models shipped with the package, else ``build()`` a model, ``train(model)`` it and
    cache the result.

    config: everything that decides the result (JSON-serialisable); it names the cache file.
    The model comes back in eval mode on the CPU, whether it was trained (on any device) or
    loaded; move it with ``model.to(device)``.
    """
    recipe, file_name = recipe_file_name(name, config)
    path = models_folder(cache_dir) / file_name
    shipped = [PRETRAINED / file_name] if use_pretrained() else []
    # One process trains, others wait for its file (e.g. two lessons opened at once).
    with _exclusive(path):
        candidates = [file for file in [path, *shipped] if file.exists()]
        for candidate in candidates:
            try:
                saved = torch.load(candidate, map_location="cpu", weights_only=True)
                if saved.get("recipe") != recipe:
                    raise ValueError("it was made by a different recipe")
                model = build()
                model.load_state_dict(saved["state_dict"])
                model.eval()
                return model, History.from_dict(saved["history"])
            except Exception as err:
                then = "retraining it" if candidate == candidates[-1] else "trying the shipped one"
                warnings.warn(
                    f"Model file {candidate} could not be used ({err}); {then}.",
                    RuntimeWarning,
                    stacklevel=3,
                )
        model = build()
        history = train(model)
        model.cpu().eval()
        _atomic_save(
            {"recipe": recipe, "state_dict": model.state_dict(), "history": history.to_dict()}, path
        )
    return model, history


@contextlib.contextmanager
def _exclusive(path: Path):
    """Hold an exclusive lock on ``path``'s lock file where the OS offers ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock, at worst two processes train the same model
        yield
        return
    lock = path.parent / ".locks" / f"{path.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _atomic_save(obj, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def shared_model(
    name: str,
    source: str | None = None,
    seed: int | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
):
    """One of the lessons' shared models, trained on MNIST (dynamic binarization) or loaded.

    name: one of ``SHARED`` ("vae-20", "ae-20", "vae-2", "ae-2", "vae-5").
    source: as for ``load_mnist``.
    seed: initial weights, shuffling and binarization; None uses the run's seed
    (``VAE_TUTORIAL_SEED``), so another seed trains (and caches) another model.
    Shared models always train on the CPU, whatever accelerator is present, so one cache file
    means one model on every machine (the cache key names neither device nor torch version).
    Returns ``(model, history)``; the model is in eval mode on the CPU.
    """
    if name not in SHARED:
        raise ValueError(f"name={name!r} is not a shared model; use one of {sorted(SHARED)}.")
    recipe = dict(SHARED[name])
    seed = resolve_seed(seed)
    dataset = load_mnist(source=source, binarize="dynamic", seed=seed)
    config = {**recipe, "source": dataset.source, "seed": seed, "batch_size": 128, "lr": 1e-3}
    cls = VAE if recipe["kind"] == "VAE" else Autoencoder

    def build():
        torch.manual_seed(seed)  # the initial weights are part of the recipe
        return cls(latent_dim=recipe["latent_dim"], hidden_dim=recipe["hidden_dim"])

    def train(model):
        return fit(
            model,
            dataset.train_x,
            epochs=recipe["epochs"],
            seed=seed,
            test_x=dataset.test_x,
            progress=progress,
            device="cpu",
        )

    return train_or_load(name, build, train, config, cache_dir=cache_dir)
