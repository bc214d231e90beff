"""Minibatch stochastic gradient ascent on the ELBO (the article's Algorithm 1).

Data stay in memory as one tensor on the device; each step indexes a batch, so no per-image
Python work happens in the loop. Bernoulli models see freshly drawn binary pixels every epoch
("dynamic binarization"); drawing from data that are already binary changes nothing.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from dataclasses import dataclass, field

import torch

from ._checks import check_nonempty, check_positive_int, model_input
from .objectives import default_objective
from .seeding import resolve_seed, seed_everything  # noqa: F401 (seed_everything is public here)


def default_device() -> torch.device:
    """cuda if available, else Apple's mps, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class History:
    """Per-epoch averages of the objective (nats per example) and cumulative seconds."""

    objective: str
    train: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.train)

    @property
    def train_elbo(self) -> list[float]:
        self._require_elbo()
        return self.train

    @property
    def test_elbo(self) -> list[float]:
        self._require_elbo()
        return self.test

    def _require_elbo(self):
        if self.objective != "elbo":
            raise ValueError(
                f"this history tracks {self.objective!r}, not the ELBO; read history.train and "
                "history.test instead."
            )

    def to_dict(self) -> dict:
        return {
            "objective": self.objective,
            "train": list(self.train),
            "test": list(self.test),
            "seconds": list(self.seconds),
        }

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(
            data["objective"], list(data["train"]), list(data["test"]), list(data["seconds"])
        )


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam with its fused kernel where this torch build has one, else the foreach version."""
    try:
        return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(model.parameters(), lr=lr, foreach=True)


@contextlib.contextmanager
def fixed_noise(seed: int, device: str | torch.device | None = None):
    """Within the block, torch's global generators of the CPU and of ``device`` (cuda, mps)
    start from ``seed``; afterwards they continue exactly where the caller left them."""
    device = torch.device("cpu" if device is None else device)
    accelerator = device.type != "cpu"
    devices = [device.index or 0] if accelerator else []
    with torch.random.fork_rng(devices=devices, device_type=device.type if accelerator else None):
        torch.random.default_generator.manual_seed(seed)
        if accelerator:
            torch.get_device_module(device.type).manual_seed(seed)
        yield


@torch.no_grad()
def evaluate(
    model, x: torch.Tensor, objective=None, batch_size: int = 1000, seed: int = 0
) -> float:
    """Mean of ``objective(model, batch)`` over x (nats per example), with seeded noise that
    leaves the caller's random number generators untouched. x: (N, input_dim), N >= 1."""
    objective = objective or default_objective(model)
    check_positive_int("batch_size", batch_size)
    x = model_input(model, x)
    check_nonempty("x", x)
    was_training = model.training
    model.eval()
    device = getattr(model, "device", x.device)
    try:
        with fixed_noise(seed, device):
            total = sum(
                objective(model, x[i : i + batch_size].to(device)).sum().item()
                for i in range(0, len(x), batch_size)
            )
    finally:
        model.train(was_training)
    return total / len(x)


def fit(
    model,
    x: torch.Tensor,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int | None = None,
    objective=None,
    progress: bool = True,
    test_x: torch.Tensor | None = None,
    device: str | torch.device | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    callback=None,
) -> History:
    """Train ``model`` by maximising ``objective`` (default: the ELBO) with Adam.

    x: (N, input_dim) training images in [0, 1]; grey levels are binarized afresh every epoch
    for a Bernoulli model. test_x: optional held-out images, scored after every epoch.
    callback: optional ``callback(epoch, model, history)`` run after every epoch (epoch from 1),
    e.g. to record extra per-epoch measurements.
    seed: shuffling, binarization and test noise; None uses the run's seed (``VAE_TUTORIAL_SEED``).
    Returns a :class:`History` of per-epoch train/test averages in nats per example.
    """
    check_positive_int("epochs", epochs)
    check_positive_int("batch_size", batch_size)
    if not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}.")
    objective = objective or default_objective(model)
    # x is checked once here and binarizing keeps pixels in {0, 1}, so an objective that can
    # skip its own checks (validate=False) need not scan every minibatch again.
    options = {"validate": False} if "validate" in inspect.signature(objective).parameters else {}
    device = torch.device(device) if device is not None else default_device()
    bernoulli = getattr(model, "likelihood", None) == "bernoulli"
    check_nonempty("x", x)
    check = getattr(model, "check_input", None)
    if check is not None:
        # Grey training pixels are fine for a Bernoulli model: they are binarized below.
        check(x, "x", allow_grey=True)
    if test_x is not None:
        model_input(model, test_x, "test_x")

    seed = resolve_seed(seed)
    generator = seed_everything(seed)
    model.to(device)
    model.train()
    x = x.to(device)
    optimizer = optimizer or make_optimizer(model, lr)
    history = History(objective=getattr(objective, "__name__", "objective"))
    n = len(x)
    start = time.perf_counter()
    bar = progress_bar(epochs, progress)
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator).to(device)
        x_epoch = (
            torch.bernoulli(x, generator=_device_generator(generator, device)) if bernoulli else x
        )
        total = 0.0
        for i in range(0, n, batch_size):
            per_example = objective(model, x_epoch[order[i : i + batch_size]], **options)
            loss = -per_example.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += per_example.detach().sum()
        history.train.append(float(total) / n)
        if test_x is not None:
            history.test.append(evaluate(model, test_x, objective, seed=seed))
        history.seconds.append(time.perf_counter() - start)
        if callback is not None:
            callback(history.epochs, model, history)
        test = f"{history.test[-1]:.1f}" if history.test else ""
        show_epoch(bar, train=f"{history.train[-1]:.1f}", test=test)
    if bar is not None:
        bar.close()
    model.eval()
    return history


def _device_generator(generator: torch.Generator, device: torch.device):
    if device.type == "cpu":
        return generator
    seeded = torch.Generator(device=device)
    seeded.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
    return seeded


def progress_bar(epochs: int, progress: bool, desc: str = "epochs"):
    """A tqdm progress bar over ``epochs`` (None when ``progress`` is False)."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=epochs, desc=desc, unit="epoch", leave=True)


def show_epoch(bar, **shown) -> None:
    """Show one epoch's figures (those that are not empty) on ``bar`` and advance it."""
    if bar is not None:
        bar.set_postfix({name: value for name, value in shown.items() if value})
        bar.update()
