"""A small digit classifier used as a yardstick: are decoded images digit-like, and which digit?

Trained on real (grey-level) digits; it is differentiable, so lessons can also run gradient
ascent on its probabilities in latent space.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ._checks import check_data, check_nonempty, check_positive_int, to_numpy


class DigitClassifier(nn.Module):
    """x: (batch, input_dim) in [0, 1] -> logits (batch, 10). A 784-256-10 MLP by default."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 256, num_classes: int = 10):
        super().__init__()
        self.input_dim = input_dim
        self.net = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities, (batch, 10)."""
        return F.softmax(self(check_data(x, "x", dim=self.input_dim)), dim=-1)

    @torch.no_grad()
    def confidence(self, x: torch.Tensor) -> torch.Tensor:
        """The largest class probability per image, (batch,): near 1 for a clear digit."""
        return self.predict_proba(x).max(-1).values

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        return (self.predict_proba(x).argmax(-1) == y).float().mean().item()


def train_digit_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    seed: int = 0,
    weight_decay: float = 1e-4,
) -> DigitClassifier:
    """Fit a :class:`DigitClassifier` on images x (N, D) in [0, 1] with labels y (N,)."""
    check_data(x, "x")
    check_positive_int("epochs", epochs)
    if y.shape != (len(x),) or y.dtype != torch.int64:
        raise ValueError(
            f"y must be an int64 tensor of shape ({len(x)},), got {y.dtype} {tuple(y.shape)}."
        )
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DigitClassifier(input_dim=x.shape[1], num_classes=int(y.max()) + 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    return model


def knn_accuracy(train_codes, train_y, test_codes, test_y, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier in a code space (scikit-learn)."""
    from sklearn.neighbors import KNeighborsClassifier

    check_positive_int("k", k)
    for name, value in (("train_codes", train_codes), ("test_codes", test_codes)):
        check_nonempty(name, value)
    knn = KNeighborsClassifier(n_neighbors=k).fit(to_numpy(train_codes), to_numpy(train_y))
    return float(knn.score(to_numpy(test_codes), to_numpy(test_y)))
