"""The one binning rule: classes over quantile bins of a continuous dimension (perez2022's binned activation /
valence), used by the training targets (:func:`emofuse.train.targets.binned_targets`) and by
:func:`emofuse.evaluate.metrics.binned_uar`.

Edges: the inner ``n_bins``-quantiles of the training values only (``numpy.quantile``, linear interpolation),
reused unchanged on dev and test. Bins are left-closed, ``[e_{k-1}, e_k)``: a value exactly on an edge goes to the
**upper** bin (bin index = number of edges <= value). A/V/D labels are averages of a few discrete ratings, so
values on an edge are common; one rule everywhere keeps training targets and the metric in agreement.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emofuse.errors import ConfigError


class BinningError(ConfigError, ValueError):
    """Bin edges cannot be made from the values given (too few, non-finite, or too many ties)."""


def _as_1d(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise BinningError(f"{name} must be one-dimensional [N]; got shape {arr.shape}")
    return arr


def quantile_edges(train_values: Sequence[float] | np.ndarray, n_bins: int = 3) -> np.ndarray:
    """Inner edges ``[n_bins - 1]`` (float64, increasing) at the 1/n_bins, 2/n_bins, ... quantiles of ``train_values``.

    Raises:
        BinningError: fewer than ``n_bins`` values, NaN/inf values, or ties that repeat an edge.
    """
    values = _as_1d(train_values, "train_values")
    if n_bins < 2:
        raise BinningError(f"n_bins={n_bins}: need at least 2 bins")
    if values.size < n_bins:
        raise BinningError(f"{values.size} training value(s) cannot make {n_bins} bins")
    if not np.all(np.isfinite(values)):
        raise BinningError("train_values has NaN/inf entries: drop them before computing bin edges")
    edges = np.quantile(values, np.arange(1, n_bins) / n_bins)
    if np.any(np.diff(edges) <= 0):
        raise BinningError(
            f"training values give repeated quantile edges {edges.tolist()} (too many ties): use fewer bins"
        )
    return edges


def assign_bins(values: Sequence[float] | np.ndarray, edges: Sequence[float] | np.ndarray) -> np.ndarray:
    """Bin index ``[N]`` (int64, 0 = lowest) of each value: the number of edges <= value (on an edge: upper bin)."""
    v = _as_1d(values, "values")
    return np.searchsorted(np.asarray(edges, dtype=np.float64), v, side="right").astype(np.int64)


__all__ = ["BinningError", "assign_bins", "quantile_edges"]
