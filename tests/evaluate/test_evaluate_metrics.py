"""Metric tests: against scikit-learn / a direct numpy CCC, hand-worked cases, and the degenerate cases."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    recall_score,
    roc_auc_score,
)

from emofuse.evaluate import (
    EvaluationError,
    MetricWarning,
    accuracy,
    assign_bins,
    av_auc,
    binned_uar,
    ccc,
    classification_metrics,
    confusion,
    per_class_auc,
    per_class_recall,
    quantile_edges,
    regression_metrics,
    uar,
)

LABELS = ["ang", "hap", "neu", "sad"]


def _random_case(seed: int, n: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_true = rng.choice(LABELS, size=n, p=[0.1, 0.2, 0.5, 0.2])
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), [LABELS.index(v) for v in y_true]] += 1.0  # better than chance, imperfect
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_pred = np.asarray(LABELS)[proba.argmax(axis=1)]
    return y_true, y_pred, proba


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_agree_with_sklearn(seed: int) -> None:
    y_true, y_pred, proba = _random_case(seed)
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    assert uar(y_true, y_pred, LABELS) == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert uar(y_true, y_pred, LABELS) == pytest.approx(
        recall_score(y_true, y_pred, labels=LABELS, average="macro")
    )
    per_class = per_class_recall(y_true, y_pred, LABELS)
    expected = recall_score(y_true, y_pred, labels=LABELS, average=None)
    assert list(per_class) == LABELS
    np.testing.assert_allclose(list(per_class.values()), expected)
    np.testing.assert_array_equal(
        confusion(y_true, y_pred, LABELS), confusion_matrix(y_true, y_pred, labels=LABELS)
    )
    assert av_auc(y_true, proba, LABELS) == pytest.approx(
        roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=LABELS)
    )


def test_hand_worked_classification() -> None:
    # true:  a a a a b b c c ; pred: a a a b b c c c
    y_true = list("aaaabbcc")
    y_pred = list("aaabbccc")
    # recall a = 3/4, b = 1/2, c = 2/2 -> uar = (0.75 + 0.5 + 1) / 3 = 0.75; accuracy = 6/8
    assert accuracy(y_true, y_pred) == pytest.approx(0.75)
    assert per_class_recall(y_true, y_pred, ["a", "b", "c"]) == {"a": 0.75, "b": 0.5, "c": 1.0}
    assert uar(y_true, y_pred, ["a", "b", "c"]) == pytest.approx(0.75)
    np.testing.assert_array_equal(
        confusion(y_true, y_pred, ["a", "b", "c"]), [[3, 1, 0], [0, 1, 1], [0, 0, 2]]
    )


def test_class_never_predicted_counts_as_zero_recall() -> None:
    y_true = ["a", "a", "b", "b", "c", "c"]
    y_pred = ["a", "a", "a", "a", "c", "c"]  # b never predicted
    assert per_class_recall(y_true, y_pred, ["a", "b", "c"])["b"] == 0.0
    assert uar(y_true, y_pred, ["a", "b", "c"]) == pytest.approx(2 / 3)
    assert uar(y_true, y_pred, ["a", "b", "c"]) == pytest.approx(balanced_accuracy_score(y_true, y_pred))


def test_class_absent_from_truth_policies() -> None:
    y_true = ["a", "a", "b", "b"]
    y_pred = ["a", "b", "b", "c"]  # c is a label and is predicted, but never true
    labels = ["a", "b", "c"]
    assert np.isnan(per_class_recall(y_true, y_pred, labels)["c"])
    with pytest.warns(MetricWarning, match="never occur"):
        skipped = uar(y_true, y_pred, labels)
    assert skipped == pytest.approx((0.5 + 0.5) / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about y_pred classes absent from y_true
        assert skipped == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    zero = uar(y_true, y_pred, labels, absent="zero")
    assert zero == pytest.approx(
        recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    )
    assert zero == pytest.approx(1 / 3)
    with pytest.raises(EvaluationError, match=r"\['c'\]"):
        uar(y_true, y_pred, labels, absent="error")


def test_unknown_labels_and_bad_shapes_are_clear_errors() -> None:
    with pytest.raises(EvaluationError, match=r"'x' \(rows \[1\]\)"):
        uar(["a", "x"], ["a", "a"], ["a", "b"])
    with pytest.raises(EvaluationError, match="y_pred"):
        confusion(["a", "b"], ["a", "z"], ["a", "b"])
    with pytest.raises(EvaluationError, match="2 entries but y_pred has 3"):
        accuracy(["a", "b"], ["a", "b", "a"])
    with pytest.raises(EvaluationError, match=r"\[2, 2\]"):
        av_auc(["a", "b"], np.zeros((2, 3)), ["a", "b"])
    with pytest.raises(EvaluationError, match="NaN"):
        av_auc(["a", "b"], np.array([[0.5, np.nan], [0.1, 0.9]]), ["a", "b"])
    with pytest.raises(EvaluationError, match="duplicates"):
        uar(["a"], ["a"], ["a", "a"])
    with pytest.raises(EvaluationError, match="empty"):
        accuracy([], [])


def test_av_auc_hand_worked_and_absent_class() -> None:
    y_true = ["a", "a", "b", "b"]
    # class a scores: positives 0.9, 0.4; negatives 0.6, 0.1 -> pairs (0.9>0.6, 0.9>0.1, 0.4<0.6, 0.4>0.1) = 3/4
    proba = np.array([[0.9, 0.1, 0.0], [0.4, 0.6, 0.0], [0.6, 0.4, 0.0], [0.1, 0.9, 0.0]])
    aucs = per_class_auc(y_true, proba, ["a", "b", "c"], warn=False)
    assert aucs["a"] == pytest.approx(0.75)
    assert aucs["b"] == pytest.approx(0.75)
    assert np.isnan(aucs["c"])
    with pytest.warns(MetricWarning, match=r"\['c'\]"):
        assert av_auc(y_true, proba, ["a", "b", "c"]) == pytest.approx(0.75)


def test_av_auc_single_class_fold_is_nan_not_a_crash() -> None:
    proba = np.array([[0.7, 0.3], [0.2, 0.8], [0.5, 0.5]])
    with pytest.warns(MetricWarning, match="single class"):
        value = av_auc(["a", "a", "a"], proba, ["a", "b"])
    assert np.isnan(value)


def test_ccc_matches_direct_formula_and_is_symmetric() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=500)
    y = 0.6 * x + rng.normal(scale=0.8, size=500) + 0.3
    mx, my = x.mean(), y.mean()
    direct = 2 * np.mean((x - mx) * (y - my)) / (x.var() + y.var() + (mx - my) ** 2)
    assert ccc(x, y) == pytest.approx(direct)
    assert ccc(y, x) == pytest.approx(direct)
    # CCC <= |Pearson r|, with equality only without location/scale shift
    assert ccc(x, y) < np.corrcoef(x, y)[0, 1]
    assert ccc(x, x) == pytest.approx(1.0)
    centred = x - x.mean()
    assert ccc(centred, -centred) == pytest.approx(-1.0)  # only when both means are equal


def test_ccc_hand_worked() -> None:
    # x = [1, 2, 3], y = [2, 3, 4]: var 2/3 each, cov 2/3, mean shift 1 -> 2*(2/3) / (4/3 + 1) = 4/7
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)


def test_ccc_degenerate_cases() -> None:
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    assert ccc(truth, np.full(4, 2.5)) == 0.0  # constant prediction, varying truth
    assert ccc(np.full(4, 2.0), np.full(4, 2.0)) == 1.0  # both constant and identical: perfect agreement
    assert ccc(np.full(4, 2.0), np.full(4, 3.0)) == 0.0  # both constant, different
    with pytest.raises(EvaluationError, match="rows \\[1\\]"):
        ccc([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(EvaluationError, match="aligned"):
        ccc([1.0, 2.0], [1.0])


def test_classification_metrics_bundle() -> None:
    y_true, y_pred, proba = _random_case(5, n=120)
    out = classification_metrics(y_true, proba, LABELS)
    assert out["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred))
    assert out["uar"] == pytest.approx(balanced_accuracy_score(y_true, y_pred))
    assert out["av_auc"] == pytest.approx(roc_auc_score(y_true, proba, multi_class="ovr", labels=LABELS))
    assert out["recall_neu"] == pytest.approx(recall_score(y_true, y_pred, labels=["neu"], average="macro"))
    assert out["n"] == 120
    # an explicit y_pred overrides the arg-max
    forced = classification_metrics(y_true, proba, LABELS, y_pred=np.full(120, "neu"))
    assert forced["uar"] == pytest.approx(0.25)


def test_regression_metrics() -> None:
    rng = np.random.default_rng(0)
    true = rng.normal(size=(50, 3))
    pred = true + rng.normal(scale=0.5, size=(50, 3))
    out = regression_metrics(true, pred, ["arousal", "valence", "dominance"])
    for k, name in enumerate(["arousal", "valence", "dominance"]):
        assert out[f"ccc_{name}"] == pytest.approx(ccc(true[:, k], pred[:, k]))
    assert out["ccc"] == pytest.approx(
        np.mean([out["ccc_arousal"], out["ccc_valence"], out["ccc_dominance"]])
    )
    with pytest.raises(EvaluationError, match="K = len\\(names\\) = 2"):
        regression_metrics(true, pred, ["arousal", "valence"])


def test_quantile_bins_match_pandas_qcut_and_binned_uar() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=300)
    edges = quantile_edges(train, 3)
    assert edges.shape == (2,)
    np.testing.assert_array_equal(assign_bins(train, edges), pd.qcut(train, 3, labels=False))
    assert np.bincount(assign_bins(train, edges)).tolist() == [100, 100, 100]
    # hand-worked: edges (0, 1): -1 -> 0, 0 -> 1 (on an edge: upper bin), 0.5 -> 1, 1 -> 2, 2 -> 2
    assert assign_bins([-1, 0, 0.5, 1, 2], [0.0, 1.0]).tolist() == [0, 1, 1, 2, 2]
    true_values = np.array([-1.0, -0.5, 0.5, 0.7, 1.5, 3.0])  # bins 0 0 1 1 2 2
    pred_values = np.array([-2.0, 0.5, 0.6, 0.9, 0.8, 2.0])  # bins 0 1 1 1 1 2
    assert binned_uar(true_values, pred_values, [0.0, 1.0]) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    assert binned_uar(true_values, [0, 1, 1, 1, 1, 2], [0.0, 1.0], pred_kind="bins") == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="ties"):
        quantile_edges(np.zeros(30), 3)
