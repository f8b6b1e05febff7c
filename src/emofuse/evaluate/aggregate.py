"""Aggregation: metrics from predictions tables, and summaries of scores over seeds.

The predictions table (docs/contracts.md) has one row per test utterance of one run, with columns
``system, seed, fold, utterance_id, label, pred`` and ``p_<class>`` per class (classification) or
``true_<dim>, pred_<dim>`` per dimension (A/V/D regression).

Cross-validated metrics are computed as pepino2020 does it: the test predictions of all folds of a
(system, seed) are pooled ("computed on the merged test scores for all folds") and scored once. The per-fold
metrics are also available (``level="fold"``) for spotting a bad fold.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from emofuse.evaluate.errors import EvaluationError, MetricWarning
from emofuse.evaluate.metrics import classification_metrics, regression_metrics

KEY_COLUMNS = ("system", "seed", "fold", "utterance_id")
AVD_NAMES = ("arousal", "valence", "dominance")

__all__ = [
    "KEY_COLUMNS",
    "summarise",
    "infer_task",
    "infer_labels",
    "infer_dims",
    "read_predictions",
    "metrics_from_predictions",
    "metric_columns",
    "summarise_systems",
]


def summarise(scores: Iterable[float]) -> dict[str, float]:
    """Summary of one metric's scores over runs (seeds): ``mean``, ``std`` (ddof=1), ``median``, ``q1``, ``q3``,
    ``iqr`` (= q3 - q1), ``min``, ``max``, ``n``.

    Quartiles use numpy's default linear interpolation (the same as pandas). NaN scores (an undefined metric
    in some run) are left out; ``n`` counts the finite scores and ``n_nan`` the left-out ones. ``std`` is
    NaN for a single score; every statistic is NaN when no score is finite.
    """
    values = np.asarray(list(scores), dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    n = int(finite.size)
    out: dict[str, float] = {"n": n, "n_nan": int(values.size - n)}
    if n == 0:
        out.update(dict.fromkeys(("mean", "std", "median", "q1", "q3", "iqr", "min", "max"), float("nan")))
        return out
    q1, median, q3 = np.percentile(finite, [25, 50, 75])
    out.update(
        mean=float(finite.mean()),
        std=float(finite.std(ddof=1)) if n > 1 else float("nan"),
        median=float(median),
        q1=float(q1),
        q3=float(q3),
        iqr=float(q3 - q1),
        min=float(finite.min()),
        max=float(finite.max()),
    )
    return out


# ------------------------------------------------------------------------------------ table handling
def infer_task(pred_df: pd.DataFrame) -> Literal["classes", "avd"]:
    """``"classes"`` when the table has ``p_<class>`` columns, ``"avd"`` when it has ``true_<dim>``/``pred_<dim>``."""
    has_p = any(c.startswith("p_") for c in pred_df.columns)
    has_avd = any(c.startswith("true_") for c in pred_df.columns)
    if has_p and not has_avd:
        return "classes"
    if has_avd and not has_p:
        return "avd"
    raise EvaluationError(
        f"cannot tell the task from the columns {list(pred_df.columns)}: a predictions table has either "
        "p_<class> columns (classes) or true_<dim>/pred_<dim> columns (A/V/D), not both or neither"
    )


def infer_labels(pred_df: pd.DataFrame) -> list[str]:
    """Class names in output order, from the ``p_<class>`` columns."""
    return [c[2:] for c in pred_df.columns if c.startswith("p_")]


def infer_dims(pred_df: pd.DataFrame) -> list[str]:
    """Regression dimension names from the ``true_<dim>`` columns that also have ``pred_<dim>``."""
    return [c[5:] for c in pred_df.columns if c.startswith("true_") and f"pred_{c[5:]}" in pred_df.columns]


def read_predictions(paths: str | Path | Sequence[str | Path]) -> pd.DataFrame:
    """Read and concatenate predictions tables.

    Args:
        paths: a ``predictions.csv`` file, a run-output root (every ``**/predictions.csv`` under it is read),
            or a list of files.

    ``label`` and ``pred`` are read as strings (class names such as ``"1"`` stay names); ``seed`` and ``fold``
    as integers.
    """
    if isinstance(paths, str | Path):
        root = Path(paths)
        if root.is_dir():
            files = sorted(root.rglob("predictions.csv"))
            if not files:
                raise EvaluationError(
                    f"no predictions.csv under {root}: run `emofuse run` first, or pass the files"
                )
        elif root.is_file():
            files = [root]
        else:
            raise EvaluationError(
                f"{root} does not exist: pass a predictions.csv file or a run-output directory"
            )
    else:
        files = [Path(p) for p in paths]
    frames = []
    for f in files:
        try:
            frame = pd.read_csv(f, dtype={"label": str, "pred": str, "utterance_id": str, "system": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise EvaluationError(f"cannot read predictions table {f}: {exc}") from exc
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _check_table(pred_df: pd.DataFrame, task: str, labels: list[Hashable], dims: list[str]) -> None:
    needed = ["system", "seed", "utterance_id"]
    if task == "classes":
        needed += ["label"] + [f"p_{lab}" for lab in labels]
    else:
        needed += [f"true_{d}" for d in dims] + [f"pred_{d}" for d in dims]
    missing = [c for c in needed if c not in pred_df.columns]
    if missing:
        raise EvaluationError(
            f"predictions table lacks columns {missing} (has {list(pred_df.columns)}); see 'Predictions table' in docs/contracts.md"
        )
    keys = [c for c in KEY_COLUMNS if c in pred_df.columns]
    dup = pred_df.duplicated(subset=keys, keep=False)
    if dup.any():
        rows = pred_df.index[dup].tolist()[:5]
        raise EvaluationError(
            f"predictions table has repeated ({', '.join(keys)}) in rows {rows}: each utterance is predicted "
            "once per system, seed and fold"
        )


def _metrics_of(group: pd.DataFrame, task: str, labels: list[Hashable], dims: list[str]) -> dict[str, float]:
    if task == "classes":
        proba = group[[f"p_{lab}" for lab in labels]].to_numpy(dtype=np.float64)
        y_pred = group["pred"].astype(str).to_numpy() if "pred" in group.columns else None
        return classification_metrics(group["label"].astype(str).to_numpy(), proba, labels, y_pred=y_pred)
    true = group[[f"true_{d}" for d in dims]].to_numpy(dtype=np.float64)
    pred = group[[f"pred_{d}" for d in dims]].to_numpy(dtype=np.float64)
    return regression_metrics(true, pred, dims)


def metrics_from_predictions(
    pred_df: pd.DataFrame,
    labels: Sequence[Hashable] | None = None,
    level: Literal["seed", "fold"] = "seed",
    dims: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Metrics per run from a predictions table.

    Args:
        pred_df: predictions table (see module docstring).
        labels: class names in output order (default: from the ``p_<class>`` columns). Classification only.
        level: ``"seed"``: one row per (system, seed), scored on the predictions pooled over folds;
            ``"fold"``: one row per (system, seed, fold).
        dims: regression dimensions (default: every ``true_<dim>`` with a ``pred_<dim>``). A/V/D only.

    Returns:
        DataFrame with ``system, seed`` (``fold`` too at fold level), then ``accuracy, uar, av_auc,
        recall_<class>..., n`` (classes) or ``ccc_<dim>..., ccc, n`` (A/V/D), systems in order of first appearance, then seed(, fold) ascending.
    """
    if not isinstance(pred_df, pd.DataFrame) or pred_df.empty:
        raise EvaluationError("the predictions table is empty: there is nothing to score")
    task = infer_task(pred_df)
    labs: list[Hashable] = [str(v) for v in (labels if labels is not None else infer_labels(pred_df))]
    dim_list = list(dims) if dims is not None else infer_dims(pred_df)
    if task == "avd" and not dim_list:
        raise EvaluationError("no true_<dim>/pred_<dim> column pairs found in the predictions table")
    _check_table(pred_df, task, labs, dim_list)
    if level == "seed":
        keys = ["system", "seed"]
    elif level == "fold":
        if "fold" not in pred_df.columns:
            raise EvaluationError("level='fold' needs a 'fold' column in the predictions table")
        keys = ["system", "seed", "fold"]
    else:
        raise EvaluationError(f"level={level!r}: use 'seed' or 'fold'")
    rows: list[dict[str, Any]] = []
    undefined: list[str] = []
    for key, group in pred_df.groupby(keys, sort=True):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MetricWarning)
            row = dict(zip(keys, key, strict=True))
            row.update(_metrics_of(group, task, labs, dim_list))
        if any(issubclass(w.category, MetricWarning) for w in caught):
            undefined.append(", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True)))
        rows.append(row)
    if undefined:
        warnings.warn(
            f"some classes are absent from the test labels of {len(undefined)} run(s) ({'; '.join(undefined[:3])}"
            f"{'...' if len(undefined) > 3 else ''}): their uar/av_auc average over the classes present",
            MetricWarning,
            stacklevel=2,
        )
    result = pd.DataFrame(rows)
    # systems in order of first appearance in the table (the runner's order), seeds and folds ascending
    order = {name: k for k, name in enumerate(pd.unique(pred_df["system"]))}
    result = result.sort_values(
        keys, key=lambda col: col.map(order) if col.name == "system" else col, kind="stable"
    )
    return result.reset_index(drop=True)


def metric_columns(per_run: pd.DataFrame) -> list[str]:
    """The headline metric columns present in a per-run table, in report order."""
    order = ["accuracy", "uar", "av_auc", "ccc"]
    headline = [m for m in order if m in per_run.columns]
    ccc_dims = sorted(c for c in per_run.columns if re.fullmatch(r"ccc_.+", c))
    return headline + ccc_dims


def summarise_systems(
    per_seed: pd.DataFrame, metrics: Sequence[str] | None = None
) -> dict[str, dict[str, dict]]:
    """``{system: {metric: summarise(scores over seeds)}}`` from a per-(system, seed) metrics table.

    Systems keep their order of first appearance in ``per_seed``.
    """
    if "system" not in per_seed.columns:
        raise EvaluationError(f"per-seed metrics need a 'system' column; got {list(per_seed.columns)}")
    names = list(metrics) if metrics is not None else metric_columns(per_seed)
    missing = [m for m in names if m not in per_seed.columns]
    if missing:
        raise EvaluationError(f"per-seed metrics lack columns {missing}; have {list(per_seed.columns)}")
    out: dict[str, dict[str, dict]] = {}
    for system in pd.unique(per_seed["system"]):
        part = per_seed[per_seed["system"] == system]
        out[str(system)] = {m: summarise(part[m].to_numpy(dtype=np.float64)) for m in names}
    return out
