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
