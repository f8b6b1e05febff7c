"""Evaluation: metrics (``accuracy``, ``uar``, ``av_auc``, ``ccc``), aggregation over seeds and folds, paired tests,
and reports (``emofuse.evaluate.report``, which imports matplotlib, is loaded on first use)."""

from __future__ import annotations

from typing import Any

from emofuse.evaluate.aggregate import (
    metrics_from_predictions,
    read_predictions,
    summarise,
    summarise_systems,
)
from emofuse.evaluate.errors import EvaluationError, MetricWarning
from emofuse.evaluate.metrics import (
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
from emofuse.evaluate.stats import PairedTTest, paired_ttest, paired_ttest_by_seed

__all__ = [
    "EvaluationError",
    "MetricWarning",
    "PairedTTest",
    "accuracy",
    "assign_bins",
    "av_auc",
    "binned_uar",
    "ccc",
    "classification_metrics",
    "confusion",
    "format_table",
    "metrics_from_predictions",
    "paired_ttest",
    "paired_ttest_by_seed",
    "per_class_auc",
    "per_class_recall",
    "quantile_edges",
    "read_predictions",
    "regression_metrics",
    "summarise",
    "summarise_systems",
    "uar",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name in ("write_report", "format_table"):
        from emofuse.evaluate import report

        return getattr(report, name)
    raise AttributeError(f"module 'emofuse.evaluate' has no attribute {name!r}")
