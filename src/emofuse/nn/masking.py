"""Mask helpers shared by every module: padding never changes an output.

Convention: ``x: [B, T, D]`` float, ``mask: [B, T]`` bool with True = real frame. Padded frames may hold any
value; every function here ignores them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "MaskedBatchNorm1d",
    "check_inputs",
    "full_mask",
    "lengths_from_mask",
    "masked_max",
    "masked_mean",
    "masked_softmax",
    "zero_padding",
]


def full_mask(x: Tensor) -> Tensor:
    """An all-True mask ``[B, T]`` for ``x: [B, T, ...]``."""
    return torch.ones(x.shape[0], x.shape[1], dtype=torch.bool, device=x.device)


def check_inputs(x: Tensor, mask: Tensor | None, name: str = "x") -> Tensor:
    """Validate ``x: [B, T, D]`` and ``mask: [B, T]``; return the (possibly filled-in) bool mask.

    Raises ValueError naming the argument and the shapes, so a wrong batch fails where it enters.
    """
    if x.dim() != 3:
        raise ValueError(f"{name} must be [B, T, D]; got shape {tuple(x.shape)}")
    if mask is None:
        return full_mask(x)
    if mask.shape != x.shape[:2]:
        raise ValueError(f"mask for {name} must be [B, T] = {tuple(x.shape[:2])}; got {tuple(mask.shape)}")
    return mask.to(dtype=torch.bool, device=x.device)


def zero_padding(x: Tensor, mask: Tensor) -> Tensor:
    """``x: [B, T, D]`` with padded frames set to 0 (so a convolution sees the same zeros as 'same' padding)."""
    return x * mask.unsqueeze(-1).to(x.dtype)


def lengths_from_mask(mask: Tensor, require_prefix: bool = False) -> Tensor:
    """Number of real frames per row, ``[B]`` long.

    With ``require_prefix`` the mask must be left-aligned (True...True False...False), as recurrent layers
    with packed sequences need; otherwise ValueError.
    """
    lengths = mask.sum(dim=1)
    if require_prefix:
        positions = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
        if not torch.equal(positions < lengths.unsqueeze(1), mask.bool()):
            raise ValueError(
                "mask must be left-aligned (real frames first, padding after) for a recurrent branch"
            )
    return lengths


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean over real frames: ``[B, T, D]`` -> ``[B, D]``. A row with no real frame gives zeros."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    total = (x * weights).sum(dim=1)
    count = weights.sum(dim=1).clamp_min(1.0)
    return total / count


def masked_max(x: Tensor, mask: Tensor) -> Tensor:
    """Max over real frames: ``[B, T, D]`` -> ``[B, D]``. A row with no real frame gives zeros."""
    filled = x.masked_fill(~mask.unsqueeze(-1), float("-inf"))
    out = filled.max(dim=1).values
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        out = out.masked_fill(empty.unsqueeze(-1), 0.0)
    return out


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    """Softmax over time of ``scores: [B, T]`` that gives padded frames weight 0 (all-padding rows: all 0)."""
    filled = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(filled, dim=1)
    return torch.nan_to_num(weights, nan=0.0)


class MaskedBatchNorm1d(nn.Module):
    """Batch normalisation over the feature axis whose batch statistics use real frames only.

    Shapes: ``x: [B, T, C]`` with ``mask: [B, T]`` (statistics over all real frames of the batch), or
    ``x: [B, C]`` (statistics over the batch). Training uses batch statistics and updates running
    statistics (unbiased variance, like ``torch.nn.BatchNorm1d``); evaluation uses the running ones.
    With plain ``nn.BatchNorm1d`` zero-padded frames would shift the mean and variance, so the output of a
    real frame would depend on how much padding its batch has.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """Normalise ``x: [B, T, C]`` (or ``[B, C]``); returns the same shape."""
        if x.shape[-1] != self.num_features:
            raise ValueError(f"MaskedBatchNorm1d expects {self.num_features} features; got {x.shape[-1]}")
        if self.training:
            flat = x.reshape(-1, self.num_features)
            if x.dim() == 3 and mask is not None:
                flat = flat[mask.reshape(-1)]
            count = flat.shape[0]
            if count == 0:
                mean = self.running_mean
                var = self.running_var
            else:
                mean = flat.mean(dim=0)
                var = flat.var(dim=0, unbiased=False)
                with torch.no_grad():
                    unbiased = var * (count / max(count - 1, 1))
                    self.running_mean.lerp_(mean.detach(), self.momentum)
                    self.running_var.lerp_(unbiased.detach(), self.momentum)
                    self.num_batches_tracked += 1
        else:
            mean = self.running_mean
            var = self.running_var
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
