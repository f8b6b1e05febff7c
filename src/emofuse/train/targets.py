"""What a recipe's model learns for each utterance: class indices, A/V/D values, or classes over quantile bins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from emofuse.binning import BinningError, assign_bins, quantile_edges
from emofuse.errors import ConfigError
from emofuse.recipes.schema import Recipe
from emofuse.train.data import encode_targets


def binned_targets(
    table: pd.DataFrame, dim: str, n_bins: int, train_ids: Sequence[str]
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Class targets over ``n_bins`` quantile bins of column ``dim`` (edges from ``train_ids`` only; perez2022).

    The rule (edges, and a value on an edge going to the upper bin) is :mod:`emofuse.binning`'s.
    Returns ``({utterance_id: bin index (int64 scalar)}, inner edges)``; rows without a value are left out.
    """
    if dim not in table.columns:
        raise ConfigError(f"data.bins.dim {dim!r} is not a column of the utterance table")
    values = dict(zip(table["utterance_id"], pd.to_numeric(table[dim], errors="coerce"), strict=True))
    train = [values[u] for u in train_ids if u in values and np.isfinite(values[u])]
    try:
        edges = quantile_edges(train, n_bins)
    except BinningError as exc:
        raise ConfigError(f"data.bins over {dim!r} of the fold's training utterances: {exc}") from None
    ids = [u for u, v in values.items() if np.isfinite(v)]
    bins = assign_bins([values[u] for u in ids], edges)
    return {u: np.asarray(b, dtype=np.int64) for u, b in zip(ids, bins, strict=True)}, [
        float(e) for e in edges
    ]


def recipe_targets(
    recipe: Recipe, table: pd.DataFrame, train_ids: Sequence[str] = ()
) -> dict[str, np.ndarray]:
    """``{utterance_id: target}`` of ``recipe``; with ``data.bins`` the edges come from ``train_ids`` only."""
    d = recipe.data
    if d.bins is not None:
        return binned_targets(table, d.bins.dim, d.bins.n_bins, train_ids)[0]
    return encode_targets(table, d.task, d.labels, d.label_map, d.avd_names)


def labelled_ids(recipe: Recipe, table: pd.DataFrame) -> list[str]:
    """Utterances that have a target under ``recipe`` (for protocols that split utterances, not speakers)."""
    d = recipe.data
    if d.bins is not None:
        values = pd.to_numeric(table[d.bins.dim], errors="coerce") if d.bins.dim in table else None
        if values is None:
            raise ConfigError(f"data.bins.dim {d.bins.dim!r} is not a column of the utterance table")
        return [str(u) for u, v in zip(table["utterance_id"], values, strict=True) if np.isfinite(v)]
    return list(encode_targets(table, d.task, d.labels, d.label_map, d.avd_names))


__all__: list[Any] = ["binned_targets", "labelled_ids", "recipe_targets"]
