"""Output heads: classes (logits), arousal/valence/dominance regression, classes over quantile bins."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from emofuse.nn.branches import Activation, make_activation

__all__ = ["AVDHead", "BinnedHead", "ClassHead", "quantile_bin_edges", "values_to_bins"]


class ClassHead(nn.Module):
    """Class logits from a pooled embedding: ``[B, in_dim]`` -> ``[B, n_classes]`` (pre-softmax).

    ``hidden=None``: one linear layer (pepino2020 single-modality output layers L_T5 / L_A4, late fusion).
    ``hidden=H``: Linear(in, H) -> activation -> dropout -> Linear(H, C) (pepino2020 early fusion: 128 + ReLU;
    kumar2021: 600; perez2022: H = in_dim, dropout 0.5). ``forward_hidden`` also returns the hidden layer.
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        hidden: int | None = None,
        dropout: float = 0.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1; got {n_classes}")
        self.in_dim = in_dim
        self.n_outputs = n_classes
        if hidden:
            self.hidden: nn.Module | None = nn.Sequential(
                nn.Linear(in_dim, hidden), make_activation(activation), nn.Dropout(dropout)
            )
            self.out = nn.Linear(hidden, n_classes)
        else:
            self.hidden = None
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(in_dim, n_classes)

    def forward_hidden(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """``x: [B, in_dim]`` -> (logits ``[B, C]``, hidden ``[B, H]`` or None)."""
        if self.hidden is None:
            return self.out(self.drop(x)), None
        h = self.hidden(x)
        return self.out(h), h

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_hidden(x)[0]


class AVDHead(nn.Module):
    """deoliveira2023 regression FFN: "two fully-connected layers and a hyperbolic tangent activation
    function. Its final layer has three output features": Linear(in, hidden) -> tanh -> dropout ->
    Linear(hidden, 3). ``[B, in_dim]`` -> ``[B, n_outputs]`` (arousal, valence, dominance; unbounded).

    The hidden size is not given in the paper (default 256; None = ``in_dim``); dropout 0.1 is ("dropout of
    0.1 throughout"). ``activation="relu"`` gives perez2022's regression head (dense, ReLU, dropout 0.5).
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int | None = 256,
        n_outputs: int = 3,
        dropout: float = 0.1,
        activation: Activation = "tanh",
    ) -> None:
        super().__init__()
        hidden = hidden or in_dim
        self.in_dim = in_dim
        self.n_outputs = n_outputs
        self.hidden = nn.Sequential(
            nn.Linear(in_dim, hidden), make_activation(activation), nn.Dropout(dropout)
        )
        self.out = nn.Linear(hidden, n_outputs)

    def forward_hidden(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x: [B, in_dim]`` -> (predictions ``[B, n_outputs]``, hidden ``[B, H]``)."""
        h = self.hidden(x)
        return self.out(h), h

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_hidden(x)[0]


def quantile_bin_edges(values: Tensor | Sequence[float], n_bins: int = 3) -> Tensor:
    """Inner edges ``[n_bins - 1]`` that cut ``values`` (training part only) into equal-count bins.

    perez2022 bins activation / valence into 3 quantile bins and reports UAR over them.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if v.numel() == 0:
        raise ValueError("quantile_bin_edges needs at least one value")
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2; got {n_bins}")
    q = torch.arange(1, n_bins, dtype=torch.float64) / n_bins
    return torch.quantile(v, q).to(torch.float32)


def values_to_bins(values: Tensor | Sequence[float], edges: Tensor) -> Tensor:
    """Bin index ``[N]`` long in ``0..len(edges)``: value v goes to the number of edges <= v."""
    v = torch.as_tensor(values, dtype=torch.float32)
    return torch.bucketize(v, edges.to(v.dtype), right=True)


class BinnedHead(ClassHead):
    """Classes over quantile bins of a continuous dimension (perez2022 binned activation / valence).

    A :class:`ClassHead` with ``n_bins`` outputs plus the bin edges (a buffer, saved with the weights):
    ``set_edges(quantile_bin_edges(train_values, n_bins))`` then ``to_bins(values) -> [N]`` labels.
    """

    def __init__(
        self,
        in_dim: int,
        n_bins: int = 3,
        hidden: int | None = None,
        dropout: float = 0.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__(in_dim, n_bins, hidden=hidden, dropout=dropout, activation=activation)
        self.n_bins = n_bins
        self.register_buffer("edges", torch.full((n_bins - 1,), float("nan")))

    def set_edges(self, edges: Tensor) -> None:
        """Store inner edges ``[n_bins - 1]`` (increasing)."""
        edges = torch.as_tensor(edges, dtype=torch.float32)
        if edges.shape != (self.n_bins - 1,) or bool((edges[1:] < edges[:-1]).any()):
            raise ValueError(f"edges must be {self.n_bins - 1} increasing values; got {edges.tolist()}")
        self.edges.copy_(edges)

    def to_bins(self, values: Tensor | Sequence[float]) -> Tensor:
        """Labels ``[N]`` for continuous ``values`` with the stored edges."""
        if bool(torch.isnan(self.edges).any()):
            raise ValueError("BinnedHead has no edges yet: call set_edges(quantile_bin_edges(train_values))")
        return values_to_bins(values, self.edges)
