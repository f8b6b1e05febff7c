"""Z-score standardisation of features, fitted on the training part of a fold only.

pepino2020 normalises its openSMILE LLDs to zero mean and unit variance; every emofuse branch can do the
same. The statistics must come from the training utterances of the fold being evaluated (never from its
test utterances), and they travel with the trained model as JSON (``to_dict`` / ``from_dict``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from emofuse.errors import ConfigError


class Standardizer:
    """Per-dimension z-score over the last axis of ``[D]``, ``[T, D]`` or ``[L, T, D]`` arrays.

    Statistics are pooled over every frame (and layer) of every training array: for ``[T, D]`` inputs
    ``mean_`` and ``std_`` are ``[D]``. Dimensions with (near) zero variance keep ``std_ = 1`` so that
    constant features map to 0 instead of blowing up.

    ``deltas=1`` (pepino2020: LLDs "normalized ... using the global statistics. Finally, first-order differences
    were added"): :meth:`transform` appends the first-order differences of the *standardised* frames,
    ``d_t = z_t - z_(t-1)`` with ``d_0 = 0``, so ``[T, D]`` becomes ``[T, 2 D]`` (frames only).
    """

    def __init__(self, eps: float = 1e-8, deltas: int = 0) -> None:
        if deltas not in (0, 1):
            raise ConfigError(
                f"Standardizer: deltas must be 0 or 1 (first-order differences); got {deltas!r}"
            )
        self.deltas = deltas
        self.eps = float(eps)
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None
        self.n_frames_: int = 0
        self.n_items_: int = 0

    @property
    def fitted(self) -> bool:
        return self.mean_ is not None

    def fit(self, arrays: Sequence[np.ndarray]) -> Standardizer:
        """Fit on the training arrays of one fold (each ``[D]``, ``[T, D]`` or ``[L, T, D]``, same ``D``).

        Uses a float64 running sum so that long corpora do not need one concatenated copy in memory.
        """
        if len(arrays) == 0:
            raise ConfigError("Standardizer.fit got no arrays; pass the training features of the fold")
        dim = int(np.asarray(arrays[0]).shape[-1])
        total = np.zeros(dim, dtype=np.float64)
        total_sq = np.zeros(dim, dtype=np.float64)
        count = 0
        for i, arr in enumerate(arrays):
            a = np.asarray(arr, dtype=np.float64)
            if a.shape[-1] != dim:
                raise ConfigError(
                    f"Standardizer.fit: array {i} has last dimension {a.shape[-1]}, expected {dim}"
                )
            flat = a.reshape(-1, dim)
            total += flat.sum(axis=0)
            total_sq += np.square(flat).sum(axis=0)
            count += flat.shape[0]
        if count == 0:
            raise ConfigError("Standardizer.fit: the training arrays hold no frames")
        mean = total / count
        var = np.maximum(total_sq / count - np.square(mean), 0.0)
        std = np.sqrt(var)
        std[std < np.sqrt(self.eps)] = 1.0
        self.mean_, self.std_ = mean, std
        self.n_frames_, self.n_items_ = count, len(arrays)
        return self

    def fit_fold(self, features: Mapping[str, np.ndarray], train_ids: Iterable[str]) -> Standardizer:
        """Fit on ``features[u]`` for the training utterance ids ``train_ids`` only (other ids are ignored)."""
        ids = list(train_ids)
        missing = [u for u in ids if u not in features]
        if missing:
            raise ConfigError(f"Standardizer.fit_fold: no features for training utterance(s) {missing[:10]}")
        return self.fit([features[u] for u in ids])

    def transform(self, array: np.ndarray) -> np.ndarray:
        """Standardise one array of shape ``[..., D]``; returns float32 of the same shape (``[..., T, 2 D]``
        with ``deltas``)."""
        if self.mean_ is None or self.std_ is None:
            raise ConfigError("Standardizer.transform called before fit (fit it on the training fold first)")
        a = np.asarray(array, dtype=np.float64)
        if a.shape[-1] != self.mean_.shape[0]:
            raise ConfigError(
                f"Standardizer: array has last dimension {a.shape[-1]}, fitted on {self.mean_.shape[0]}"
            )
        z = ((a - self.mean_) / self.std_).astype(np.float32)
        if not self.deltas:
            return z
        if z.ndim < 2:
            raise ConfigError(
                f"Standardizer: deltas need frames [T, D]; got a pooled array of shape {z.shape}"
            )
        diff = np.diff(z, axis=-2, prepend=z[..., :1, :])  # d_0 = 0
        return np.concatenate([z, diff], axis=-1)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state: plain lists and numbers."""
        if self.mean_ is None or self.std_ is None:
            raise ConfigError("Standardizer.to_dict called before fit")
        return {
            "type": "zscore",
            "mean": [float(v) for v in self.mean_],
            "std": [float(v) for v in self.std_],
            "eps": self.eps,
            "n_frames": self.n_frames_,
            "n_items": self.n_items_,
            **({"deltas": self.deltas} if self.deltas else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardizer:
        if data.get("type") != "zscore" or "mean" not in data or "std" not in data:
            raise ConfigError(
                f"not a Standardizer state (expected type 'zscore' with mean/std): keys {sorted(data)}"
            )
        out = cls(eps=float(data.get("eps", 1e-8)), deltas=int(data.get("deltas", 0)))
        out.mean_ = np.asarray(data["mean"], dtype=np.float64)
        out.std_ = np.asarray(data["std"], dtype=np.float64)
        if out.mean_.shape != out.std_.shape or np.any(out.std_ <= 0):
            raise ConfigError("Standardizer state is damaged: mean/std shapes differ or std <= 0")
        out.n_frames_ = int(data.get("n_frames", 0))
        out.n_items_ = int(data.get("n_items", 0))
        return out
