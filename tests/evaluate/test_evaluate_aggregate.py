"""Aggregation over seeds/folds from predictions tables, and the paired t-test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from emofuse.evaluate import (
    EvaluationError,
    MetricWarning,
    ccc,
    metrics_from_predictions,
    paired_ttest,
    paired_ttest_by_seed,
    read_predictions,
    summarise,
    summarise_systems,
)

LABELS = ["ang", "hap", "neu", "sad"]


def test_summarise_hand_worked_and_against_pandas() -> None:
    s = summarise([1.0, 2.0, 3.0, 4.0])
    assert s["n"] == 4 and s["n_nan"] == 0
    assert s["mean"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(np.sqrt(5 / 3))  # ddof=1
    assert (s["q1"], s["median"], s["q3"], s["iqr"]) == pytest.approx((1.75, 2.5, 3.25, 1.5))
    values = pd.Series(np.random.default_rng(0).normal(size=11))
    s = summarise(values)
    assert s["std"] == pytest.approx(values.std())
    assert s["iqr"] == pytest.approx(values.quantile(0.75) - values.quantile(0.25))
    with_nan = summarise([1.0, np.nan, 3.0])
    assert with_nan["n"] == 2 and with_nan["n_nan"] == 1 and with_nan["mean"] == 2.0
    assert np.isnan(summarise([5.0])["std"])
    assert np.isnan(summarise([np.nan])["median"])


def test_metrics_pooled_over_folds_and_per_fold(predictions_factory) -> None:
    df = predictions_factory({"audio": 1.0, "fusion": 2.5})
    per_seed = metrics_from_predictions(df)
    assert list(per_seed[["system", "seed"]].itertuples(index=False, name=None)) == [
        (s, k) for s in ("audio", "fusion") for k in range(4)
    ]
    part = df[(df.system == "fusion") & (df.seed == 2)]
    row = per_seed[(per_seed.system == "fusion") & (per_seed.seed == 2)].iloc[0]
    assert row["uar"] == pytest.approx(balanced_accuracy_score(part.label, part.pred))
    proba = part[[f"p_{c}" for c in LABELS]].to_numpy()
    assert row["av_auc"] == pytest.approx(roc_auc_score(part.label, proba, multi_class="ovr", labels=LABELS))
    assert row["n"] == 72
    per_fold = metrics_from_predictions(df, level="fold")
    assert len(per_fold) == 2 * 4 * 3
    fold_row = per_fold[(per_fold.system == "fusion") & (per_fold.seed == 2) & (per_fold.fold == 1)].iloc[0]
    fold_part = part[part.fold == 1]
    assert fold_row["uar"] == pytest.approx(balanced_accuracy_score(fold_part.label, fold_part.pred))
    assert (
        per_seed.groupby("system")["uar"].mean()["fusion"] > per_seed.groupby("system")["uar"].mean()["audio"]
    )


def test_metrics_from_avd_predictions() -> None:
    rng = np.random.default_rng(0)
    n = 40
    true = rng.normal(size=(n, 3))
    df = pd.DataFrame(
        {
            "system": "ssl",
            "seed": 0,
            "fold": 0,
            "utterance_id": [f"u{i}" for i in range(n)],
            **{f"true_{d}": true[:, k] for k, d in enumerate(["arousal", "valence", "dominance"])},
            **{
                f"pred_{d}": true[:, k] * 0.5 + rng.normal(size=n)
                for k, d in enumerate(["arousal", "valence", "dominance"])
            },
        }
    )
    out = metrics_from_predictions(df)
    assert out.loc[0, "ccc_valence"] == pytest.approx(ccc(df.true_valence, df.pred_valence))
    assert out.loc[0, "ccc"] == pytest.approx(
        out.loc[0, ["ccc_arousal", "ccc_valence", "ccc_dominance"]].mean()
    )


def test_bad_tables_are_clear_errors(predictions_factory) -> None:
    df = predictions_factory({"audio": 1.0}, seeds=1, folds=1, per_fold=8)
    with pytest.raises(EvaluationError, match=r"lacks columns \['p_sad'\]"):
        metrics_from_predictions(df.drop(columns=["p_sad"]), labels=LABELS)
    with pytest.raises(EvaluationError, match="repeated"):
        metrics_from_predictions(pd.concat([df, df.iloc[:1]], ignore_index=True))
    bad = df.copy()
    bad.loc[3, "label"] = "bored"
    with pytest.raises(EvaluationError, match=r"'bored' \(rows \[3\]\)"):
        metrics_from_predictions(bad)
    with pytest.raises(EvaluationError, match="cannot tell the task"):
        metrics_from_predictions(df.drop(columns=[f"p_{c}" for c in LABELS]))


def test_read_predictions_from_run_tree_keeps_labels_as_strings(tmp_path, predictions_factory) -> None:
    df = predictions_factory({"a": 1.0}, seeds=2, folds=2, per_fold=6)
    df["label"] = df["label"].map({c: str(k) for k, c in enumerate(LABELS)})
    df["pred"] = df["pred"].map({c: str(k) for k, c in enumerate(LABELS)})
    df = df.rename(columns={f"p_{c}": f"p_{k}" for k, c in enumerate(LABELS)})
    for (s, f), part in df.groupby(["seed", "fold"]):
        d = tmp_path / "a" / f"seed{s}" / f"fold{f}"
        d.mkdir(parents=True)
        part.to_csv(d / "predictions.csv", index=False)
    back = read_predictions(tmp_path)
    assert len(back) == len(df)
    assert back["label"].map(type).eq(str).all()
    per_seed = metrics_from_predictions(back)
    assert "recall_0" in per_seed.columns and len(per_seed) == 2
    with pytest.raises(EvaluationError, match="does not exist"):
        read_predictions(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="no predictions.csv"):
        read_predictions(tmp_path / "empty")


def test_paired_ttest_agrees_with_scipy_and_checks_lengths() -> None:
    a = [0.61, 0.64, 0.60, 0.66, 0.63]
    b = [0.55, 0.60, 0.58, 0.59, 0.61]
    result = paired_ttest(a, b)
    expected = stats.ttest_rel(a, b)
    assert result.t == pytest.approx(expected.statistic)
    assert result.p == pytest.approx(expected.pvalue)
    assert result.mean_difference == pytest.approx(np.mean(np.subtract(a, b)))
    assert result.n == 5
    with pytest.raises(EvaluationError, match="got 5 and 4 scores"):
        paired_ttest(a, b[:4])
    with pytest.raises(EvaluationError, match="at least 2"):
        paired_ttest([0.5], [0.4])
    constant_shift = paired_ttest([0.5, 0.6, 0.7], [0.4, 0.5, 0.6])
    assert np.isnan(constant_shift.p) and constant_shift.mean_difference == pytest.approx(0.1)


def test_paired_ttest_by_seed_matches_seeds() -> None:
    per_seed = pd.DataFrame(
        {"system": ["x"] * 3 + ["y"] * 3, "seed": [2, 0, 1, 0, 1, 2], "uar": [0.7, 0.5, 0.6, 0.4, 0.45, 0.62]}
    )
    result = paired_ttest_by_seed(per_seed, "x", "y", "uar")
    expected = stats.ttest_rel([0.5, 0.6, 0.7], [0.4, 0.45, 0.62])  # aligned by seed, not by row order
    assert result.t == pytest.approx(expected.statistic)
    with pytest.raises(EvaluationError, match=r"only in 'x': \[3\]"):
        paired_ttest_by_seed(
            pd.concat([per_seed, pd.DataFrame({"system": ["x"], "seed": [3], "uar": [0.1]})]), "x", "y", "uar"
        )


def test_summarise_systems(predictions_factory) -> None:
    df = predictions_factory({"audio": 1.0, "text": 1.5}, seeds=3, folds=2, per_fold=10)
    summary = summarise_systems(metrics_from_predictions(df))
    assert list(summary) == ["audio", "text"]
    assert set(summary["audio"]) == {"accuracy", "uar", "av_auc"}
    assert summary["text"]["uar"]["n"] == 3


def test_single_class_fold_gives_nan_auc_with_a_warning_not_a_crash(predictions_factory) -> None:
    df = predictions_factory({"audio": 1.5}, seeds=1, folds=2, per_fold=12)
    df.loc[df.fold == 1, "label"] = "neu"  # fold 1 holds one class only
    with pytest.warns(MetricWarning, match="fold=1"):
        per_fold = metrics_from_predictions(df, level="fold")
    assert np.isnan(per_fold.loc[per_fold.fold == 1, "av_auc"].item())
    assert np.isfinite(per_fold.loc[per_fold.fold == 0, "av_auc"].item())
    pooled = metrics_from_predictions(df)  # pooled over folds every class is present again
    assert np.isfinite(pooled["av_auc"].item())
