"""Learnable weighted average of an encoder's layers (deoliveira2023 Fig. 2, makiuchi2021 Eq. 1)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

__all__ = ["LayerWeighting"]

LayerWeightMode = Literal["softmax", "sum_normalized"]


class LayerWeighting(nn.Module):
    """Combine ``L`` hidden-state layers into one: ``[B, L, T, D]`` -> ``[B, T, D]``.

    Modes:

    - ``"softmax"`` (default; s3prl / SUPERB style, deoliveira2023 "weights normalized to sum to one"):
      ``h = sum_i softmax(a)_i h_i`` with logits ``a`` initialised to 0 (equal weights).
    - ``"sum_normalized"`` (makiuchi2021 Eq. 1, faithful to its code): ``h = sum_i a_i h_i / sum_i a_i``
      with raw weights ``a`` initialised to 1. The weights are not constrained to be positive.

    ``weights()`` returns the normalised weights ``[L]`` (they sum to 1 in both modes), for plotting.
    """

    def __init__(self, num_layers: int, mode: LayerWeightMode = "softmax") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1; got {num_layers}")
        if mode not in ("softmax", "sum_normalized"):
            raise ValueError(f"mode must be 'softmax' or 'sum_normalized'; got {mode!r}")
        self.num_layers = num_layers
        self.mode: LayerWeightMode = mode
        init = torch.zeros(num_layers) if mode == "softmax" else torch.ones(num_layers)
        self.raw_weights = nn.Parameter(init)

    def weights(self) -> Tensor:
        """Normalised layer weights ``[L]`` (sum to 1)."""
        if self.mode == "softmax":
            return torch.softmax(self.raw_weights, dim=0)
        return self.raw_weights / self.raw_weights.sum()

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """``x: [B, L, T, D]`` -> ``[B, T, D]``. ``mask`` ``[B, T]`` is accepted for the common signature;
        padded frames stay padded (the output there is whatever the weighted input is)."""
        if x.dim() != 4 or x.shape[1] != self.num_layers:
            raise ValueError(
                f"LayerWeighting expects [B, L={self.num_layers}, T, D]; got shape {tuple(x.shape)}"
            )
        w = self.weights().to(x.dtype)
        return torch.einsum("bltd,l->btd", x, w)

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}, mode={self.mode!r}"
