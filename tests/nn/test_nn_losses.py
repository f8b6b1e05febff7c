"""Losses: inverse-frequency weights, weighted cross-entropy, CCC."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emofuse.nn import CCCLoss, WeightedCrossEntropy, ccc_torch, inverse_frequency_weights


def _ccc_numpy(pred: np.ndarray, true: np.ndarray) -> float:
    """Lin's concordance correlation coefficient from Pearson's rho and population statistics."""
    rho = np.corrcoef(pred, true)[0, 1]
    sp, st = pred.std(), true.std()
    return 2 * rho * sp * st / (sp**2 + st**2 + (pred.mean() - true.mean()) ** 2)


def test_inverse_frequency_weights_hand_worked() -> None:
    # N = 100, K = 3 present classes: w_c = 100 / (3 n_c); the absent class gets 0
    w = inverse_frequency_weights([10, 30, 0, 60])
    assert w.tolist() == pytest.approx([100 / 30, 100 / 90, 0.0, 100 / 180])
    assert float((w * torch.tensor([10.0, 30, 0, 60])).sum()) == pytest.approx(100.0)
    assert inverse_frequency_weights(torch.tensor([1, 3])).tolist() == pytest.approx([2.0, 2 / 3])


def test_inverse_frequency_weights_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="all zero"):
        inverse_frequency_weights([0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        inverse_frequency_weights([3, -1])


def test_weighted_cross_entropy_hand_worked() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    target = torch.tensor([0, 1, 0])
    weights = torch.tensor([0.5, 3.0])
    per_item = [math.log(1 + math.exp(-2)), math.log(1 + math.exp(-1)), math.log(2)]
    w = [0.5, 3.0, 0.5]
    batch = WeightedCrossEntropy(weights)(logits, target)
    assert float(batch) == pytest.approx(sum(a * b for a, b in zip(w, per_item, strict=True)) / 3)
    by_weight = WeightedCrossEntropy(weights, normalize="weight_sum")(logits, target)
    assert float(by_weight) == pytest.approx(float(F.cross_entropy(logits, target, weight=weights)))
    assert float(WeightedCrossEntropy()(logits, target)) == pytest.approx(sum(per_item) / 3)


def test_weighted_cross_entropy_checks_shapes() -> None:
    with pytest.raises(ValueError, match="3 class weights for 2 classes"):
        WeightedCrossEntropy([1.0, 1.0, 1.0])(torch.zeros(2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="logits"):
        WeightedCrossEntropy()(torch.zeros(2, 2), torch.tensor([0, 1, 1]))


def test_ccc_loss_equals_one_minus_numpy_ccc() -> None:
    rng = np.random.default_rng(3)
    true = rng.normal(size=(64, 3))
    pred = 0.7 * true + rng.normal(scale=0.5, size=(64, 3)) + np.array([0.2, -0.1, 0.4])
    expected = np.array([_ccc_numpy(pred[:, d], true[:, d]) for d in range(3)])
    got = ccc_torch(torch.tensor(pred), torch.tensor(true))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)
    loss = CCCLoss()(torch.tensor(pred), torch.tensor(true))
    assert float(loss) == pytest.approx(1 - expected.mean(), rel=1e-6)


def test_ccc_extremes_and_gradient() -> None:
    y = torch.randn(32, 3)
    y = y - y.mean(0)  # centred, so -y has the same mean and CCC(-y, y) = -1 exactly
    assert float(CCCLoss()(y, y)) == pytest.approx(0.0, abs=1e-6)
    assert float(CCCLoss()(-y, y)) == pytest.approx(2.0, abs=1e-5)
    shifted = float(CCCLoss()(y + 1.0, y))  # perfect correlation, biased: CCC < 1
    assert 0.1 < shifted < 1.0
    pred = torch.zeros(32, 3, requires_grad=True)
    with torch.no_grad():
        pred.copy_(torch.randn(32, 3))
    CCCLoss()(pred, y).backward()
    assert pred.grad is not None and float(pred.grad.abs().sum()) > 0
    assert ccc_torch(y[:, 0], y[:, 0]).shape == ()
