"""Fixtures of the evaluate tests: synthetic predictions tables in the contract format (docs/contracts.md)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

LABELS = ["ang", "hap", "neu", "sad"]


def make_predictions(
    systems: dict[str, float], seeds: int = 4, folds: int = 3, per_fold: int = 24, seed: int = 0
) -> pd.DataFrame:
    """A predictions table in the contract format; ``systems`` maps name -> signal strength (higher = better)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(LABELS)
    truth = {f: labels[rng.integers(0, 4, size=per_fold)] for f in range(folds)}
    rows = []
    for name, strength in systems.items():
        for s in range(seeds):
            for f in range(folds):
                y = truth[f]
                logits = rng.normal(size=(per_fold, 4))
                logits[np.arange(per_fold), [LABELS.index(v) for v in y]] += strength
                proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
                for i in range(per_fold):
                    row = {
                        "system": name,
                        "seed": s,
                        "fold": f,
                        "utterance_id": f"f{f}_u{i:03d}",
                        "label": y[i],
                        "pred": LABELS[int(proba[i].argmax())],
                    }
                    row.update({f"p_{c}": proba[i, k] for k, c in enumerate(LABELS)})
                    rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture
def predictions_factory() -> Callable[..., pd.DataFrame]:
    """``predictions_factory({"audio": 1.0, "fusion": 2.5}, seeds=4, folds=3, per_fold=24)`` -> predictions table."""
    return make_predictions
