"""Pooling over time with masks: mean, max, mean+max (deoliveira2023), attention (kumar2021 Eqs. 2-4)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from emofuse.nn.masking import check_inputs, masked_max, masked_mean, masked_softmax

__all__ = ["AttentionPooling", "Pooling", "PoolingKind"]

PoolingKind = Literal["mean", "max", "mean_max", "attention"]


class AttentionPooling(nn.Module):
    """kumar2021 attention: ``h_t = tanh(W s_t + b)``, ``alpha_t = softmax_t(h_t . s_w)``, ``a = sum_t alpha_t s_t``.

    ``x: [B, T, D]``, ``mask: [B, T]`` -> ``[B, D]``; padded frames get weight 0. ``last_weights`` keeps
    the most recent ``alpha`` ``[B, T]`` (detached) for inspection.
    """

    def __init__(self, dim: int, attention_dim: int | None = None) -> None:
        super().__init__()
        attention_dim = attention_dim or dim
        self.proj = nn.Linear(dim, attention_dim)
        self.context = nn.Parameter(torch.empty(attention_dim))
        nn.init.normal_(self.context, std=attention_dim**-0.5)
        self.last_weights: Tensor | None = None

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        scores = torch.tanh(self.proj(x)) @ self.context  # [B, T]
        alpha = masked_softmax(scores, mask)
        self.last_weights = alpha.detach()
        return torch.einsum("bt,btd->bd", alpha, x)


class Pooling(nn.Module):
    """Pool frames over time: ``x: [B, T, D]``, ``mask: [B, T]`` -> ``[B, out_dim]``.

    ``kind``: ``"mean"`` / ``"max"`` / ``"attention"`` give ``out_dim = dim``; ``"mean_max"`` concatenates
    mean and max (deoliveira2023) for ``out_dim = 2 * dim``. Only real frames count.
    """

    def __init__(self, kind: PoolingKind = "mean", dim: int | None = None, attention_dim: int | None = None):
        super().__init__()
        if kind not in ("mean", "max", "mean_max", "attention"):
            raise ValueError(f"pooling kind must be mean, max, mean_max or attention; got {kind!r}")
        if kind == "attention" and dim is None:
            raise ValueError("attention pooling needs dim (the frame feature size)")
        self.kind: PoolingKind = kind
        self.dim = dim
        self.attention = AttentionPooling(dim, attention_dim) if kind == "attention" and dim else None

    @property
    def out_dim(self) -> int:
        """Output size; needs ``dim``."""
        if self.dim is None:
            raise ValueError("Pooling was built without dim, so out_dim is unknown")
        return 2 * self.dim if self.kind == "mean_max" else self.dim

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        mask = check_inputs(x, mask)
        if self.kind == "mean":
            return masked_mean(x, mask)
        if self.kind == "max":
            return masked_max(x, mask)
        if self.kind == "mean_max":
            return torch.cat([masked_mean(x, mask), masked_max(x, mask)], dim=-1)
        assert self.attention is not None
        return self.attention(x, mask)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, dim={self.dim}"
