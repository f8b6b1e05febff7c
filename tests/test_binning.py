"""One binning rule: values exactly on a quantile edge take the same bin in training targets and in binned_uar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emofuse.binning import BinningError, assign_bins, quantile_edges
from emofuse.evaluate.metrics import binned_uar
from emofuse.train.targets import binned_targets

# A/V/D labels are means of a few discrete ratings: many values repeat, and the 1/3 and 2/3 quantiles of these
# nine training values fall exactly on rated values (2.0 and 3.0), so edge cases are the common case.
TRAIN = [1.0, 1.5, 2.0, 2.0, 2.5, 3.0, 3.0, 3.5, 4.0]


def test_edges_fall_on_rated_values_and_take_the_upper_bin() -> None:
    edges = quantile_edges(TRAIN, 3)
    assert edges.tolist() == [2.0, 3.0]
    on_edges = [2.0, 3.0]
    assert assign_bins(on_edges, edges).tolist() == [1, 2]
    assert assign_bins([1.999, 2.0, 2.999, 3.0, 3.001], edges).tolist() == [0, 1, 1, 2, 2]


def test_training_targets_and_binned_uar_agree_on_edge_values() -> None:
    table = pd.DataFrame(
        {"utterance_id": [f"t{i}" for i in range(len(TRAIN))] + ["e1", "e2"], "arousal": [*TRAIN, 2.0, 3.0]}
    )
    targets, edges = binned_targets(table, "arousal", 3, [f"t{i}" for i in range(len(TRAIN))])
    assert edges == [2.0, 3.0]
    assert int(targets["e1"]) == 1 and int(targets["e2"]) == 2  # the edge values themselves
    values = table["arousal"].to_numpy()
    trained_bins = np.asarray([int(targets[u]) for u in table["utterance_id"]])
    np.testing.assert_array_equal(trained_bins, assign_bins(values, edges))
    # a classifier that predicts exactly the training targets scores a perfect binned UAR
    assert binned_uar(values, trained_bins, edges, pred_kind="bins") == pytest.approx(1.0)
    assert binned_uar(values, values, edges) == pytest.approx(1.0)


def test_too_few_or_tied_values_are_named() -> None:
    with pytest.raises(BinningError, match="cannot make 3 bins"):
        quantile_edges([1.0, 2.0], 3)
    with pytest.raises(BinningError, match="ties"):
        quantile_edges([2.0] * 9, 3)
