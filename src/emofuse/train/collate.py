"""Padding one batch: per-branch feature arrays -> ``inputs[name]: [B, T, D]`` and ``masks[name]: [B, T]``.

Kept apart from the training data module so that ``serve`` and ``explain`` batch features exactly as training
does without importing the dataset and store code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from emofuse.errors import FeatureStoreError


def collate(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pad a list of dataset items into a batch.

    Returns:
        ``{"utterance_id": list[str], "inputs": {branch: [B, T, D] or [B, L, T, D] float32},
        "masks": {branch: [B, T] bool}, "targets": [B] int64 or [B, K] float32}``. A ``[D]`` array becomes one
        frame (``[1, D]``); an empty sequence (``T = 0``) becomes one zero frame marked real, so that pooling
        stays defined.
    """
    if not items:
        raise ValueError("collate got an empty batch")
    names = list(items[0]["features"])
    inputs: dict[str, torch.Tensor] = {}
    masks: dict[str, torch.Tensor] = {}
    for name in names:
        arrays = [np.asarray(it["features"][name], dtype=np.float32) for it in items]
        arrays = [a[None, :] if a.ndim == 1 else a for a in arrays]
        ndim = arrays[0].ndim
        if any(a.ndim != ndim for a in arrays):
            raise FeatureStoreError(f"branch {name!r}: arrays of mixed rank {[a.ndim for a in arrays][:8]}")
        time_axis = 0 if ndim == 2 else 1
        lengths = [max(int(a.shape[time_axis]), 1) for a in arrays]
        t_max = max(lengths)
        shape = (len(arrays), *arrays[0].shape[:time_axis], t_max, arrays[0].shape[-1])
        batch = np.zeros(shape, dtype=np.float32)
        mask = np.zeros((len(arrays), t_max), dtype=bool)
        for b, a in enumerate(arrays):
            t = a.shape[time_axis]
            if ndim == 2:
                batch[b, :t] = a
            else:
                batch[b, :, :t] = a
            mask[b, : max(t, 1)] = True
        inputs[name] = torch.from_numpy(batch)
        masks[name] = torch.from_numpy(mask)
    targets = np.stack([np.asarray(it["target"]) for it in items])
    return {
        "utterance_id": [str(it["utterance_id"]) for it in items],
        "inputs": inputs,
        "masks": masks,
        "targets": torch.from_numpy(targets),
    }


__all__ = ["collate"]
