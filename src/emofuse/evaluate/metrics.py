"""Emotion-recognition metrics: ``accuracy``, ``uar``, per-class recall, confusion, ``av_auc``, ``ccc``.

Names follow the project's convention (never "WA"/"UA", which the papers use both ways round):

* ``accuracy``: fraction of utterances whose predicted class is the true class.
* ``uar``: unweighted average recall = macro recall over an explicitly given label set (pepino2020's AvRec).
* ``av_auc``: one-vs-rest ROC AUC of each class's score, averaged over classes (pepino2020's AvAUC).
* ``ccc``: Lin's (1989) concordance correlation coefficient, with population (ddof=0) moments.

Degenerate cases are decided here once, documented on each function, and tested:

* a class of ``labels`` that never occurs in ``y_true`` has no recall and no AUC; ``uar`` and ``av_auc``
  leave it out of the average with a :class:`MetricWarning` (``absent="skip"``, the default, which is what
  ``sklearn.metrics.balanced_accuracy_score`` does) or, for ``uar``, count it as 0 (``absent="zero"``,
  sklearn's ``recall_score(average="macro", labels=..., zero_division=0)``) or raise (``absent="error"``);
* a class that occurs in ``y_true`` but is never predicted has recall 0 (it counts, and pulls ``uar`` down);
* a fold whose ``y_true`` holds a single class has no defined one-vs-rest AUC for any class: ``av_auc``
  returns NaN with a :class:`MetricWarning` instead of raising;
* ``ccc`` of a constant prediction against a varying truth is 0; of two constant, identical series 1.0
  (every point lies on the identity line: perfect agreement); of two different constants 0.0.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence
from typing import Any, Literal

import numpy as np
from sklearn.metrics import roc_auc_score

from emofuse.binning import assign_bins, quantile_edges
from emofuse.evaluate.errors import EvaluationError, MetricWarning

AbsentPolicy = Literal["skip", "zero", "error"]

__all__ = [
    "accuracy",
    "uar",
    "per_class_recall",
    "confusion",
    "per_class_auc",
    "av_auc",
    "ccc",
    "classification_metrics",
    "regression_metrics",
    "quantile_edges",
    "assign_bins",
    "binned_uar",
]


# --------------------------------------------------------------------------------------------- helpers
def _as_1d(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise EvaluationError(f"{name} must be one-dimensional [N]; got shape {arr.shape}")
    if arr.size == 0:
        raise EvaluationError(f"{name} is empty: there is nothing to score")
    return arr


def _check_labels(labels: Sequence[Hashable]) -> list[Hashable]:
    out = [v.item() if isinstance(v, np.generic) else v for v in labels]
    if not out:
        raise EvaluationError(
            "labels is empty: pass the class names in output order, e.g. ['ang', 'hap', 'neu', 'sad']"
        )
    dup = sorted({str(v) for v in out if out.count(v) > 1})
    if dup:
        raise EvaluationError(f"labels has duplicates {dup}: each class must appear once")
    return out


def _encode(y: np.ndarray, labels: list[Hashable], name: str) -> np.ndarray:
    """Map class values to indices into ``labels``; unknown values are an error naming them and their rows."""
    index = {lab: i for i, lab in enumerate(labels)}
    codes = np.empty(len(y), dtype=np.int64)
    unknown: dict[Any, list[int]] = {}
    for row, value in enumerate(y.tolist()):
        code = index.get(value)
        if code is None:
            unknown.setdefault(value, []).append(row)
            continue
        codes[row] = code
    if unknown:
        parts = [f"{v!r} (rows {rows[:5]}{'...' if len(rows) > 5 else ''})" for v, rows in unknown.items()]
        raise EvaluationError(
            f"{name} holds values not in labels {labels}: {', '.join(parts)}; "
            "pass the full label set or map/drop those rows first"
        )
    return codes


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = _as_1d(y_true, "y_true")
    p = _as_1d(y_pred, "y_pred")
    if len(t) != len(p):
        raise EvaluationError(
            f"y_true has {len(t)} entries but y_pred has {len(p)}: they must be aligned row by row"
        )
    return t, p


# ------------------------------------------------------------------------------------- classification
def accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """Fraction of entries where ``y_pred == y_true``.

    Args:
        y_true: true classes ``[N]``.
        y_pred: predicted classes ``[N]``.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def confusion(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> np.ndarray:
    """Confusion counts ``[C, C]`` (int64): row = true class, column = predicted class, both in ``labels`` order.

    Values of ``y_true`` or ``y_pred`` outside ``labels`` raise :class:`EvaluationError`.
    """
    t, p = _pair(y_true, y_pred)
    labs = _check_labels(labels)
    ti, pi = _encode(t, labs, "y_true"), _encode(p, labs, "y_pred")
    counts = np.zeros((len(labs), len(labs)), dtype=np.int64)
    np.add.at(counts, (ti, pi), 1)
    return counts


def per_class_recall(
    y_true: Sequence[Hashable], y_pred: Sequence[Hashable], labels: Sequence[Hashable]
) -> dict[Hashable, float]:
    """Recall of each class in ``labels``: correct / occurrences in ``y_true``.

    A class never predicted has recall 0.0; a class absent from ``y_true`` has no recall and maps to NaN.
    """
    counts = confusion(y_true, y_pred, labels)
    support = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diag(counts) / np.maximum(support, 1), np.nan)
    return {lab: float(r) for lab, r in zip(_check_labels(labels), recall, strict=True)}


def uar(
    y_true: Sequence[Hashable],
    y_pred: Sequence[Hashable],
    labels: Sequence[Hashable],
    absent: AbsentPolicy = "skip",
) -> float:
    """Unweighted average recall (macro recall) over the explicit label set ``labels``.

    Args:
        y_true: true classes ``[N]``; every value must be in ``labels``.
        y_pred: predicted classes ``[N]``; every value must be in ``labels``.
        labels: the class set the average runs over (a class never predicted counts, with recall 0).
        absent: what to do with a class of ``labels`` that never occurs in ``y_true`` (its recall is 0/0):
            ``"skip"`` (default) leaves it out of the average and warns (:class:`MetricWarning`), as
            ``sklearn.metrics.balanced_accuracy_score`` does; ``"zero"`` counts it as recall 0, as
            ``recall_score(average="macro", labels=labels, zero_division=0)`` does; ``"error"`` raises.
    """
    if absent not in ("skip", "zero", "error"):
        raise EvaluationError(f"absent={absent!r}: use 'skip', 'zero' or 'error'")
    recalls = per_class_recall(y_true, y_pred, labels)
    missing = [lab for lab, r in recalls.items() if np.isnan(r)]
    if missing:
        if absent == "error":
            raise EvaluationError(
                f"classes {missing} never occur in y_true, so their recall is undefined; "
                "use absent='skip' or absent='zero', or score over a fold that contains them"
            )
        if absent == "skip":
            warnings.warn(
                f"uar: classes {missing} never occur in y_true; averaging over the other {len(recalls) - len(missing)}",
                MetricWarning,
                stacklevel=2,
            )
            values = [r for r in recalls.values() if not np.isnan(r)]
        else:
            values = [0.0 if np.isnan(r) else r for r in recalls.values()]
    else:
        values = list(recalls.values())
    return float(np.mean(values))


def _check_proba(proba: Any, n_rows: int, labels: list[Hashable]) -> np.ndarray:
    scores = np.asarray(proba, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (n_rows, len(labels)):
        raise EvaluationError(
            f"proba must have shape [N, C] = [{n_rows}, {len(labels)}] (one column per label {labels}); got {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        bad = np.where(~np.isfinite(scores).all(axis=1))[0]
        raise EvaluationError(
            f"proba has NaN/inf scores in rows {bad[:5].tolist()}: fix the model output first"
        )
    return scores


def per_class_auc(
    y_true: Sequence[Hashable], proba: Any, labels: Sequence[Hashable], warn: bool = True
) -> dict[Hashable, float]:
    """One-vs-rest ROC AUC of each class: positives = rows whose true class is that class, scored by ``proba[:, c]``.

    Args:
        y_true: true classes ``[N]``.
        proba: class scores ``[N, C]``, columns in ``labels`` order (probabilities or any monotone scores).
        labels: the classes.
        warn: emit a :class:`MetricWarning` for classes whose AUC is undefined.

    Returns:
        ``{label: auc}``; NaN for a class that is absent from ``y_true`` (no positives) or that is the only
        class present (no negatives).
    """
    t = _as_1d(y_true, "y_true")
    labs = _check_labels(labels)
    codes = _encode(t, labs, "y_true")
    scores = _check_proba(proba, len(t), labs)
    out: dict[Hashable, float] = {}
    undefined: list[Hashable] = []
    for c, lab in enumerate(labs):
        positive = codes == c
        if positive.all() or not positive.any():
            out[lab] = float("nan")
            undefined.append(lab)
            continue
        out[lab] = float(roc_auc_score(positive, scores[:, c]))
    if undefined and warn:
        warnings.warn(
            f"AUC undefined for classes {undefined}: y_true has no positives or no negatives for them",
            MetricWarning,
            stacklevel=2,
        )
    return out


def av_auc(y_true: Sequence[Hashable], proba: Any, labels: Sequence[Hashable]) -> float:
    """Average over classes of the one-vs-rest ROC AUC (pepino2020's AvAUC).

    Args:
        y_true: true classes ``[N]``.
        proba: class scores ``[N, C]`` in ``labels`` order.
        labels: the classes.

    A class absent from ``y_true`` is skipped (with a :class:`MetricWarning`); when ``y_true`` holds a
    single class no AUC is defined at all and the result is NaN (with a warning), never an exception.
    With every class present this equals ``roc_auc_score(y_true, proba, multi_class="ovr", average="macro")``.
    """
    aucs = per_class_auc(y_true, proba, labels, warn=False)
    defined = [v for v in aucs.values() if not np.isnan(v)]
    skipped = [lab for lab, v in aucs.items() if np.isnan(v)]
    if not defined:
        warnings.warn(
            f"av_auc is undefined: y_true holds a single class ({sorted({str(v) for v in np.asarray(y_true).tolist()})}); "
            "returning NaN",
            MetricWarning,
            stacklevel=2,
        )
        return float("nan")
    if skipped:
        warnings.warn(
            f"av_auc: classes {skipped} never occur in y_true; averaging AUC over the other {len(defined)}",
            MetricWarning,
            stacklevel=2,
        )
    return float(np.mean(defined))


# ----------------------------------------------------------------------------------------- regression
def ccc(x: Sequence[float], y: Sequence[float]) -> float:
    """Lin's (1989) concordance correlation coefficient between two series ``[N]`` (symmetric in x, y).

    ``ccc = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)`` with population moments (ddof=0).

    Degenerate cases: a constant series against a varying one gives 0.0 (the covariance is 0); two
    constant series give 1.0 when they are identical (all points on the identity line: perfect agreement,
    and ``1 - ccc`` as a loss is 0) and 0.0 when they differ. Non-finite values raise.
    """
    a = _as_1d(x, "x").astype(np.float64)
    b = _as_1d(y, "y").astype(np.float64)
    if len(a) != len(b):
        raise EvaluationError(f"x has {len(a)} entries but y has {len(b)}: they must be aligned")
    for name, arr in (("x", a), ("y", b)):
        if not np.all(np.isfinite(arr)):
            rows = np.where(~np.isfinite(arr))[0][:5].tolist()
            raise EvaluationError(
                f"{name} has NaN/inf values in rows {rows}: drop or fix them before computing ccc"
            )
    mean_a, mean_b = a.mean(), b.mean()
    var_a, var_b = a.var(), b.var()
    cov = np.mean((a - mean_a) * (b - mean_b))
    denom = var_a + var_b + (mean_a - mean_b) ** 2
    if denom == 0.0:  # both constant and equal
        return 1.0
    return float(2.0 * cov / denom)


# --------------------------------------------------------------------------------------------- bundles
def classification_metrics(
    y_true: Sequence[Hashable],
    proba: Any,
    labels: Sequence[Hashable],
    y_pred: Sequence[Hashable] | None = None,
) -> dict[str, float]:
    """``accuracy``, ``uar``, ``av_auc``, ``recall_<class>`` per class and ``n`` for one set of predictions.

    Args:
        y_true: true classes ``[N]``.
        proba: class scores ``[N, C]`` in ``labels`` order.
        labels: the classes (output order).
        y_pred: predicted classes ``[N]``; default: the arg-max of ``proba`` (ties go to the first class).
    """
    labs = _check_labels(labels)
    t = _as_1d(y_true, "y_true")
    scores = _check_proba(proba, len(t), labs)
    pred = np.asarray([labs[i] for i in scores.argmax(axis=1)], dtype=object) if y_pred is None else y_pred
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        recalls = per_class_recall(t, pred, labs)
        out: dict[str, float] = {
            "accuracy": accuracy(t, pred),
            "uar": uar(t, pred, labs, absent="skip"),
            "av_auc": av_auc(t, scores, labs),
        }
    missing = [lab for lab, r in recalls.items() if np.isnan(r)]
    if missing:
        warnings.warn(
            f"classes {missing} never occur in y_true: uar and av_auc average over the others",
            MetricWarning,
            stacklevel=2,
        )
    for lab, r in recalls.items():
        out[f"recall_{lab}"] = r
    out["n"] = len(t)
    return out


def regression_metrics(true: Any, pred: Any, names: Sequence[str]) -> dict[str, float]:
    """``ccc_<name>`` per dimension and their mean ``ccc`` (plus ``n``).

    Args:
        true: true values ``[N, K]``.
        pred: predicted values ``[N, K]``.
        names: the K dimension names, e.g. ``["arousal", "valence", "dominance"]``.
    """
    t = np.asarray(true, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    names = list(names)
    if t.ndim == 1:
        t = t[:, None]
    if p.ndim == 1:
        p = p[:, None]
    if t.shape != p.shape or t.ndim != 2 or t.shape[1] != len(names):
        raise EvaluationError(
            f"true {t.shape} and pred {p.shape} must both be [N, K] with K = len(names) = {len(names)} ({names})"
        )
    out: dict[str, float] = {f"ccc_{name}": ccc(t[:, k], p[:, k]) for k, name in enumerate(names)}
    out["ccc"] = float(np.mean([out[f"ccc_{name}"] for name in names]))
    out["n"] = t.shape[0]
    return out


# ------------------------------------------------------------------------------- binned (perez2022)
# the binning rule itself (edges, and which bin a value on an edge takes) is emofuse.binning
def binned_uar(
    true_values: Sequence[float],
    pred: Sequence[float],
    edges: Sequence[float],
    pred_kind: Literal["values", "bins"] = "values",
) -> float:
    """UAR over quantile bins of a continuous dimension (perez2022's binned activation/valence UAR).

    Args:
        true_values: continuous true values ``[N]``; binned with ``edges``.
        pred: predictions ``[N]``: continuous values binned with the same edges (``pred_kind="values"``) or
            bin indices ``0..len(edges)`` from a classifier (``pred_kind="bins"``).
        edges: inner bin edges from :func:`emofuse.binning.quantile_edges` on the training values.
    """
    edges_arr = np.asarray(edges, dtype=np.float64)
    n_bins = len(edges_arr) + 1
    t = assign_bins(true_values, edges_arr)
    if pred_kind == "values":
        p = assign_bins(pred, edges_arr)
    elif pred_kind == "bins":
        p = _as_1d(pred, "pred").astype(np.int64)
    else:
        raise EvaluationError(f"pred_kind={pred_kind!r}: use 'values' or 'bins'")
    return uar(t, p, list(range(n_bins)))
