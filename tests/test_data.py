"""The data loaders: the embedded MNIST offline, IDX folders, OpenML failing clearly offline."""

import gzip
import socket

import numpy as np
import pytest
import torch

from vae_tutorial import data


@pytest.fixture
def no_network(monkeypatch):
    """Make every outgoing connection fail, as on a classroom machine without internet."""

    def refuse(*args, **kwargs):
        raise OSError("network is unreachable (blocked by the test)")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_embedded_mnist_shapes_types_and_classes(no_network):
    d = data.load_mnist(source="embedded", binarize=None)
    assert d.train_x.shape == (4000, 784) and d.test_x.shape == (1000, 784)
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    assert len(d.train_x) + len(d.test_x) == 5000
    assert 0 <= d.train_x.min() and d.train_x.max() <= 1
    assert set(d.train_y.tolist()) == set(range(10)) == set(d.test_y.tolist())
    # grey levels really are grey: 256 levels, not already binary
    assert len(torch.unique(d.train_x)) > 200


def test_embedded_split_is_fixed_and_shuffled(monkeypatch):
    a, b = data.load_mnist(seed=0, binarize=None), data.load_mnist(seed=0, binarize=None)
    c = data.load_mnist(seed=1, binarize=None)
    monkeypatch.setenv("VAE_TUTORIAL_SEED", "7")
    d = data.load_mnist(binarize=None)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    # the seed never moves an image between the training and the test set
    for other in (c, d):
        assert torch.equal(a.train_x, other.train_x) and torch.equal(a.test_x, other.test_x)
    # the source file is sorted by label; the split must not be
    assert (a.train_y[1:] != a.train_y[:-1]).float().mean() > 0.5
    # no image in both splits
    train = {row.tobytes() for row in a.train_x.numpy()}
    assert not any(row.tobytes() in train for row in a.test_x.numpy())


@pytest.mark.parametrize("mode", ["dynamic", "static", None])
def test_binarization_modes(mode):
    d = data.load_mnist(binarize=mode)
    grey = data.load_mnist(binarize=None)

    def is_binary(x):
        return bool(((x == 0) | (x == 1)).all())

    assert is_binary(d.test_x) == (mode is not None)
    assert is_binary(d.train_x) == (mode == "static")
    if mode is not None:
        # a Bernoulli draw: pixel frequency tracks the grey level
        assert abs(d.test_x.mean().item() - grey.test_x.mean().item()) < 0.01
        again = data.load_mnist(binarize=mode)
        assert torch.equal(again.test_x, d.test_x)


def test_unknown_options_are_named():
    with pytest.raises(ValueError, match="binarize"):
        data.load_mnist(binarize="yes")
    with pytest.raises(ValueError, match="source"):
        data.load_mnist(source="mnist-online")


@pytest.mark.filterwarnings("ignore:A network error occurred")
def test_openml_offline_fails_with_one_clear_sentence(no_network, tmp_path):
    with pytest.raises(RuntimeError) as info:
        data.load_mnist(source="openml", cache_dir=tmp_path)
    message = str(info.value)
    assert "Could not download MNIST" in message and "source='embedded'" in message
    assert "\n" not in message
    assert info.value.__cause__ is None and info.value.__suppress_context__


def _write_idx_folder(folder, d, gz):
    suffix = ".gz" if gz else ""
    to_bytes = lambda x: np.round(x.numpy() * 255).astype(np.uint8).reshape(-1, 28, 28)  # noqa: E731
    data.write_idx(folder / f"train-images-idx3-ubyte{suffix}", to_bytes(d.train_x[:300]))
    data.write_idx(folder / f"train-labels-idx1-ubyte{suffix}", d.train_y[:300].numpy())
    data.write_idx(folder / f"t10k-images-idx3-ubyte{suffix}", to_bytes(d.test_x[:100]))
    data.write_idx(folder / f"t10k-labels-idx1-ubyte{suffix}", d.test_y[:100].numpy())


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_round_trip(tmp_path, gz, no_network):
    grey = data.load_mnist(binarize=None)
    _write_idx_folder(tmp_path, grey, gz)
    d = data.load_mnist(source=tmp_path, binarize=None)
    assert d.train_x.shape == (300, 784) and d.test_x.shape == (100, 784)
    assert torch.allclose(d.train_x, grey.train_x[:300], atol=0.5 / 255)
    assert torch.equal(d.test_y, grey.test_y[:100])
    assert d.train_x.dtype == torch.float32 and d.train_y.dtype == torch.int64
    # a path given as a string works the same, and the env var switches the default source
    assert torch.equal(data.load_mnist(source=str(tmp_path), binarize=None).train_x, d.train_x)


def test_environment_variable_selects_the_source(tmp_path, monkeypatch):
    grey = data.load_mnist(binarize=None)
    _write_idx_folder(tmp_path, grey, gz=True)
    monkeypatch.setenv(data.SOURCE_ENV, str(tmp_path))
    assert len(data.load_mnist().train_x) == 300
    monkeypatch.delenv(data.SOURCE_ENV)
    assert len(data.load_mnist().train_x) == 4000


def test_idx_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        data.load_mnist(source=tmp_path)
    with pytest.raises(ValueError, match="not a folder"):
        data.load_mnist(source=tmp_path / "missing" / "folder")
    grey = data.load_mnist(binarize=None)
    _write_idx_folder(tmp_path, grey, gz=True)
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as handle:
        handle.write(b"\x01\x02")
    with pytest.raises(ValueError, match="not a readable MNIST IDX file"):
        data.load_mnist(source=tmp_path)


def test_load_digits(no_network):
    d = data.load_digits(binarize=None)
    assert d.train_x.shape[1] == 64 and len(d.train_x) + len(d.test_x) == 1797
    assert d.image_shape == (8, 8)
    assert 0 <= d.train_x.min() and d.train_x.max() <= 1
