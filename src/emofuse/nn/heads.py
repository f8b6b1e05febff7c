"""Output heads: classes (logits) and arousal/valence/dominance regression.

Classes over quantile bins of a dimension (perez2022) are a :class:`ClassHead` over bin targets; the binning
rule lives in :mod:`emofuse.binning` (outside ``nn``, which imports nothing of emofuse).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from emofuse.nn.branches import Activation, make_activation

__all__ = ["AVDHead", "ClassHead"]


class ClassHead(nn.Module):
    """Class logits from a pooled embedding: ``[B, in_dim]`` -> ``[B, n_classes]`` (pre-softmax).

    ``hidden=None``: one linear layer (pepino2020 single-modality output layers L_T5 / L_A4, late fusion).
    ``hidden=H``: Linear(in, H) -> activation -> dropout -> Linear(H, C) (pepino2020 early fusion: 128 + ReLU;
    kumar2021: 600; perez2022: H = in_dim, dropout 0.5). ``hidden=[H1, H2, ...]``: one such dense layer per size
    (kumar2021's ablation of 2 vs 3 dense layers after concatenation). ``forward_hidden`` also returns the last
    hidden layer (the second-last layer of the model).
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        hidden: int | Sequence[int] | None = None,
        dropout: float = 0.0,
        activation: Activation = "relu",
    ) -> None:
        super().__init__()
        if n_classes < 1:
            raise ValueError(f"n_classes must be >= 1; got {n_classes}")
        self.in_dim = in_dim
        self.n_outputs = n_classes
        sizes = [hidden] if isinstance(hidden, int) else list(hidden or [])
        if sizes:
            layers: list[nn.Module] = []
            for size_in, size in zip([in_dim, *sizes[:-1]], sizes, strict=True):
                layers += [nn.Linear(size_in, size), make_activation(activation), nn.Dropout(dropout)]
            self.hidden: nn.Module | None = nn.Sequential(*layers)
            self.out = nn.Linear(sizes[-1], n_classes)
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
