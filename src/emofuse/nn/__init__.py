"""Composable torch modules for speech + text emotion recognition (pure torch; imports nothing else of emofuse).

Convention: ``x: [B, T, D]`` float and ``mask: [B, T]`` bool (True = real frame); padding never changes an
output. Parts:

- :mod:`emofuse.nn.layer_weighting`: :class:`LayerWeighting` (``[B, L, T, D]`` -> ``[B, T, D]``).
- :mod:`emofuse.nn.pooling`: :class:`Pooling` (mean, max, mean_max, attention).
- :mod:`emofuse.nn.branches`: :class:`Conv1dBranch`, :class:`PepinoTextBranch`, :class:`PepinoAudioBranch`,
  :class:`CNNTextBranch`, :class:`GRUAttentionBranch`, :class:`DenseBranch`, :class:`MeanMaxBranch`.
- :mod:`emofuse.nn.heads`: :class:`ClassHead`, :class:`AVDHead`.
- :mod:`emofuse.nn.fusion`: :class:`FusionModel` (none / early / late / score).
- :mod:`emofuse.nn.losses`: :func:`inverse_frequency_weights`, :class:`WeightedCrossEntropy`,
  :class:`CCCLoss`, :func:`ccc_torch`.
- :mod:`emofuse.nn.init`: :func:`xavier_init`, :func:`freeze`, :func:`unfreeze`.
- :mod:`emofuse.nn.crossrep`: makiuchi2021 :class:`CrossRepresentationModel`.
"""

from __future__ import annotations

from emofuse.nn.branches import (
    BRANCHES,
    CNNTextBranch,
    Conv1dBranch,
    ConvBlock,
    DenseBranch,
    FrameDense,
    GRUAttentionBranch,
    LSTMBranch,
    MeanMaxBranch,
    PepinoAudioBranch,
    PepinoTextBranch,
)
from emofuse.nn.crossrep import CrossRepresentationLoss, CrossRepresentationModel, segment_frames
from emofuse.nn.fusion import FUSIONS, Fusion, FusionModel
from emofuse.nn.heads import AVDHead, ClassHead
from emofuse.nn.init import freeze, unfreeze, xavier_init
from emofuse.nn.layer_weighting import LayerWeighting
from emofuse.nn.losses import CCCLoss, WeightedCrossEntropy, ccc_torch, inverse_frequency_weights
from emofuse.nn.masking import MaskedBatchNorm1d, masked_max, masked_mean
from emofuse.nn.pooling import AttentionPooling, Pooling

__all__ = [
    "BRANCHES",
    "FUSIONS",
    "Fusion",
    "AVDHead",
    "AttentionPooling",
    "CCCLoss",
    "CNNTextBranch",
    "ClassHead",
    "Conv1dBranch",
    "ConvBlock",
    "CrossRepresentationLoss",
    "CrossRepresentationModel",
    "DenseBranch",
    "FrameDense",
    "FusionModel",
    "GRUAttentionBranch",
    "LSTMBranch",
    "LayerWeighting",
    "MaskedBatchNorm1d",
    "MeanMaxBranch",
    "PepinoAudioBranch",
    "PepinoTextBranch",
    "Pooling",
    "WeightedCrossEntropy",
    "ccc_torch",
    "freeze",
    "inverse_frequency_weights",
    "masked_max",
    "masked_mean",
    "segment_frames",
    "unfreeze",
    "xavier_init",
]
