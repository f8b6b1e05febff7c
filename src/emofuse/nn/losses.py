"""Losses: cross-entropy weighted by inverse class frequency (pepino2020), 1 - CCC (deoliveira2023, perez2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CCCLoss", "WeightedCrossEntropy", "ccc_torch", "inverse_frequency_weights"]


def inverse_frequency_weights(counts: Sequence[int] | Tensor) -> Tensor:
    """Class weights ``[C]`` proportional to 1 / frequency (pepino2020 cost-sensitive training).

    Normalisation: ``w_c = N / (K * n_c)`` with ``N = sum n_c`` and ``K`` the number of classes present
    (``n_c > 0``), so the weighted count of every present class is ``N / K`` and the mean weight over the
    training utterances is 1 (the loss keeps its scale). A class with count 0 gets weight 0 (it has no
    utterance to weigh). Example: counts ``[1, 3]`` -> ``[2.0, 0.6667]``.
    """
    c = torch.as_tensor(counts, dtype=torch.float32).flatten()
    if c.numel() == 0 or bool((c < 0).any()):
        raise ValueError(f"counts must be non-negative per class; got {c.tolist()}")
    present = c > 0
    if not bool(present.any()):
        raise ValueError("counts are all zero: no training labels to weigh")
    total = c.sum()
    k = present.sum().to(torch.float32)
    weights = torch.zeros_like(c)
    weights[present] = total / (k * c[present])
    return weights


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with per-class weights: ``logits [B, C]``, ``target [B]`` long -> scalar.

    ``logits`` may be log-probabilities (score fusion's output): log-softmax leaves them unchanged.
    ``normalize``: ``"batch"`` (default) divides ``sum_i w_{y_i} * loss_i`` by the batch size, as Keras
    does with class weights (pepino2020 "multiplying the loss of each instance with the inverse of the
    frequency of the class"); ``"weight_sum"`` divides by ``sum_i w_{y_i}`` (torch's default).
    """

    def __init__(
        self,
        weights: Tensor | Sequence[float] | None = None,
        normalize: Literal["batch", "weight_sum"] = "batch",
    ) -> None:
        super().__init__()
        if normalize not in ("batch", "weight_sum"):
            raise ValueError(f"normalize must be 'batch' or 'weight_sum'; got {normalize!r}")
        self.normalize = normalize
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        self.register_buffer("weights", w)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if logits.dim() != 2 or target.shape != logits.shape[:1]:
            raise ValueError(
                f"WeightedCrossEntropy expects logits [B, C] and target [B]; got {tuple(logits.shape)} "
                f"and {tuple(target.shape)}"
            )
        per_item = F.cross_entropy(logits, target.long(), reduction="none")
        if self.weights is None:
            return per_item.mean()
        if self.weights.numel() != logits.shape[1]:
            raise ValueError(f"{self.weights.numel()} class weights for {logits.shape[1]} classes")
        w = self.weights.to(logits.dtype)[target.long()]
        if self.normalize == "batch":
            return (w * per_item).sum() / per_item.numel()
        return (w * per_item).sum() / w.sum().clamp_min(torch.finfo(logits.dtype).tiny)


def ccc_torch(pred: Tensor, target: Tensor, eps: float = 1e-8) -> Tensor:
    """Concordance correlation coefficient per dimension, from batch statistics.

    ``pred, target: [B]`` -> scalar, or ``[B, D]`` -> ``[D]``. Population (biased) variances:
    ``ccc = 2 cov / (var_p + var_t + (mean_p - mean_t)^2)``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    target = target.to(pred.dtype)
    mp, mt = pred.mean(dim=0), target.mean(dim=0)
    dp, dt = pred - mp, target - mt
    cov = (dp * dt).mean(dim=0)
    vp, vt = (dp**2).mean(dim=0), (dt**2).mean(dim=0)
    return 2 * cov / (vp + vt + (mp - mt) ** 2 + eps)


class CCCLoss(nn.Module):
    """``1 - CCC`` averaged over dimensions: ``pred, target: [B, D]`` (or ``[B]``) -> scalar.

    deoliveira2023 Eq. 3: "Our training minimizes 1 - L_CCC averaged across the three emotional dimensions".
    Statistics come from the batch, so batches need more than one utterance.
    """

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return 1.0 - ccc_torch(pred, target, self.eps).mean()
