"""Standardizer: statistics from the training fold only, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emofuse.encoders import Standardizer
from emofuse.errors import ConfigError


def _fold():
    rng = np.random.default_rng(0)
    train = {f"tr{i}": rng.normal(2.0, 3.0, size=(50 + i, 4)).astype(np.float32) for i in range(6)}
    test = {f"te{i}": rng.normal(-10.0, 0.5, size=(40, 4)).astype(np.float32) for i in range(3)}
    return train, test


def test_statistics_come_from_training_utterances_only():
    train, test = _fold()
    features = {**train, **test}
    std = Standardizer().fit_fold(features, train_ids=list(train))
    frames = np.concatenate(list(train.values()))
    np.testing.assert_allclose(std.mean_, frames.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(std.std_, frames.std(axis=0), rtol=1e-5)
    # a leak would pull the mean towards the test data (-10): it must not move at all
    leaky = np.concatenate(list(features.values())).mean(axis=0)
    assert np.all(np.abs(std.mean_ - leaky) > 1.0)
    # training data become zero-mean, unit-variance; test data keep their (large) offset
    z_train = np.concatenate([std.transform(a) for a in train.values()])
    np.testing.assert_allclose(z_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z_train.std(axis=0), 1.0, atol=1e-4)
    z_test = np.concatenate([std.transform(a) for a in test.values()])
    assert np.all(z_test.mean(axis=0) < -3.0)
    assert std.n_items_ == 6 and std.n_frames_ == frames.shape[0]


def test_pooled_and_layer_arrays_and_constant_dims():
    vecs = [np.array([1.0, 5.0, 7.0]), np.array([3.0, 5.0, 9.0])]
    std = Standardizer().fit(vecs)
    np.testing.assert_allclose(std.mean_, [2.0, 5.0, 8.0])
    np.testing.assert_allclose(std.std_, [1.0, 1.0, 1.0])  # the constant middle dim keeps std 1
    layers = np.random.default_rng(3).normal(size=(3, 10, 2))
    assert Standardizer().fit([layers]).transform(layers).shape == (3, 10, 2)


def test_json_round_trip_and_errors():
    train, _ = _fold()
    std = Standardizer().fit(list(train.values()))
    state = json.loads(json.dumps(std.to_dict()))
    again = Standardizer.from_dict(state)
    x = train["tr0"]
    np.testing.assert_allclose(again.transform(x), std.transform(x), rtol=1e-6)
    with pytest.raises(ConfigError, match="before fit"):
        Standardizer().transform(x)
    with pytest.raises(ConfigError, match="last dimension"):
        std.transform(np.zeros((2, 5)))
    with pytest.raises(ConfigError, match="no features for training"):
        Standardizer().fit_fold(train, ["nope"])
    with pytest.raises(ConfigError, match="zscore"):
        Standardizer.from_dict({"mean": [0.0]})


def test_deltas_are_differences_of_the_standardised_frames():
    """pepino2020: z-score with training statistics first, then append the first-order differences."""
    rng = np.random.default_rng(3)
    train = [rng.normal(5.0, 3.0, (int(rng.integers(5, 12)), 4)) * [1, 10, 100, 0.1] for _ in range(6)]
    plain = Standardizer().fit(train)
    with_deltas = Standardizer(deltas=1).fit(train)
    x = rng.normal(5.0, 3.0, (7, 4))
    out = with_deltas.transform(x)
    z = plain.transform(x)
    assert out.shape == (7, 8)
    np.testing.assert_allclose(out[:, :4], z)
    np.testing.assert_allclose(out[1:, 4:], z[1:] - z[:-1], atol=1e-6)
    np.testing.assert_array_equal(out[0, 4:], 0.0)
    # not the other order (deltas of the raw values, then z-scored with the deltas' own statistics)
    raw_deltas = np.diff(x, axis=0)
    other = (raw_deltas - raw_deltas.mean(axis=0)) / raw_deltas.std(axis=0)
    assert not np.allclose(out[1:, 4:], other, atol=1e-3)
    back = Standardizer.from_dict(json.loads(json.dumps(with_deltas.to_dict())))
    np.testing.assert_array_equal(back.transform(x), out)
    assert "deltas" not in plain.to_dict()  # states of plain standardizers stay as they were
    with pytest.raises(ConfigError, match="frames"):
        with_deltas.transform(np.zeros(4))
    with pytest.raises(ConfigError, match="deltas"):
        Standardizer(deltas=2)
