"""Paired t-tests of every system against one named reference system (perez2022: each system against BERT).

perez2022 marks a result significant when a "repeated paired t-test" over the 10 seeds finds p < 0.05
against BERT. :func:`paired_comparisons` runs :func:`emofuse.evaluate.stats.paired_ttest_by_seed` (two-sided,
``scipy.stats.ttest_rel``, runs matched by seed: the same seed ran the same folds) of each system against a
baseline, for every metric; the report uses it twice: against the best single-modality system (pepino2020's
question, the default) and, when ``reference`` is given (``emofuse report --reference bert_ccc``), against
that named system. :func:`reference_section` is that second section of ``report.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from emofuse.evaluate.errors import EvaluationError
from emofuse.evaluate.stats import paired_ttest_by_seed
from emofuse.formatting import no_negative_zero

__all__ = ["SIGNIFICANCE_LEVEL", "paired_comparisons", "reference_comparisons", "reference_section"]

SIGNIFICANCE_LEVEL = 0.05
#: Metrics reported in % (their differences in percentage points).
PERCENT_METRICS = frozenset({"accuracy", "uar"})


def paired_comparisons(
    per_seed: pd.DataFrame, systems: Sequence[str], baseline: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """One entry per (system, metric): ``system, baseline, metric, t, p, mean_difference (system - baseline),
    n, significant`` (p < 0.05; None when the test is undefined) and, when the test cannot run, ``note``."""
    out: list[dict[str, Any]] = []
    for system in systems:
        for metric in metrics:
            entry: dict[str, Any] = {"system": system, "baseline": baseline, "metric": metric}
            try:
                result = paired_ttest_by_seed(per_seed, system, baseline, metric)
            except EvaluationError as exc:
                entry.update(t=None, p=None, mean_difference=None, n=None, significant=None, note=str(exc))
            else:
                entry.update(result.to_dict())
                entry["significant"] = (
                    bool(result.p < SIGNIFICANCE_LEVEL) if not math.isnan(result.p) else None
                )
            out.append(entry)
    return out


def reference_comparisons(
    per_seed: pd.DataFrame, reference: str, metrics: Sequence[str]
) -> list[dict[str, Any]]:
    """Every other system of ``per_seed`` against ``reference``, for every metric (:func:`paired_comparisons`).

    Raises:
        EvaluationError: ``reference`` is not one of the systems (the message lists them).
    """
    systems = [str(s) for s in pd.unique(per_seed["system"])]
    if reference not in systems:
        raise EvaluationError(
            f"reference system {reference!r} is not in the results; systems: {systems} "
            "(name one of them, e.g. --reference bert_ccc)"
        )
    return paired_comparisons(per_seed, [s for s in systems if s != reference], reference, metrics)


def reference_section(reference: str, comparisons: list[dict[str, Any]]) -> list[str]:
    """Markdown lines of the ``Paired t-tests against <reference>`` section."""
    lines = [
        f"## Paired t-tests against {reference}",
        "",
        f"Reference: **{reference}** (named). Two-sided paired t-test over seeds (runs matched by seed); "
        f"* marks p < {SIGNIFICANCE_LEVEL}, ▲/▼ a significantly higher/lower score than the reference. "
        "Differences of accuracy/uar are in percentage points.",
        "",
    ]
    if not comparisons:
        return [*lines, "There are no other systems to compare.", ""]
    return [*lines, *comparison_table(comparisons, arrows=True), ""]


def comparison_table(comparisons: list[dict[str, Any]], *, arrows: bool = False) -> list[str]:
    """The markdown table of paired comparisons (one row per system and metric), then a line per note.

    ``arrows``: mark a significant difference ▲ (higher than the baseline) or ▼ (lower).
    """
    lines = [
        "| system | metric | mean difference | t | p | seeds |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for c in comparisons:
        if c["n"] is None:
            lines.append(f"| {c['system']} | {c['metric']} | n/a | n/a | n/a | - |")
            continue
        pct = c["metric"] in PERCENT_METRICS
        diff = no_negative_zero(f"{c['mean_difference'] * (100 if pct else 1):+.{1 if pct else 3}f}")
        arrow = (" ▲" if c["mean_difference"] > 0 else " ▼") if arrows and c["significant"] else ""
        t = "n/a" if math.isnan(c["t"]) else no_negative_zero(f"{c['t']:.2f}")
        p = "n/a" if math.isnan(c["p"]) else f"{c['p']:.3g}{' *' if c['significant'] else ''}"
        lines.append(f"| {c['system']} | {c['metric']} | {diff}{arrow} | {t} | {p} | {c['n']} |")
    notes = sorted({c["note"] for c in comparisons if c.get("note")})
    return [*lines, "", *[f"Note: {n}" for n in notes]] if notes else lines
