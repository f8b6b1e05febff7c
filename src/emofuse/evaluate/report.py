"""Results reports: ``report.md`` + ``report.json`` + PNG plots from a predictions table or per-seed metrics.

Per system, the spread over seeds of each metric (``accuracy``, ``uar``, ``av_auc`` for classes; ``ccc_<dim>`` and
``ccc`` for A/V/D) as median ± IQR (pepino2020 Table 1) and mean ± std (perez2022 Table 1); a paired t-test over
seeds of every fusion system against the best single-modality system and, with ``reference``, of every system
against that named one (perez2022: against BERT; :mod:`emofuse.evaluate.reference`); plots of the confusion matrix
and per-class recall per system and of the spread over seeds (pepino2020 Fig. 3).
"""

from __future__ import annotations

import math
import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emofuse.evaluate.aggregate import (
    infer_dims,
    infer_labels,
    infer_task,
    metric_columns,
    metrics_from_predictions,
    read_predictions,
    summarise_systems,
)
from emofuse.evaluate.errors import EvaluationError
from emofuse.evaluate.intersection_section import intersection_section
from emofuse.evaluate.metrics import confusion
from emofuse.evaluate.plots import plot_confusion, plot_per_class_recall, plot_seed_spread, slug
from emofuse.evaluate.reference import (
    PERCENT_METRICS,
    SIGNIFICANCE_LEVEL,
    comparison_table,
    paired_comparisons,
    reference_comparisons,
    reference_section,
)
from emofuse.formatting import no_negative_zero
from emofuse.io import atomic_write_json, atomic_write_text

__all__ = ["Report", "write_report", "format_table", "chance_level", "no_negative_zero", "PERCENT_METRICS"]


@dataclass
class Report:
    """What :func:`write_report` wrote and computed."""

    out_dir: Path
    markdown_path: Path
    json_path: Path
    task: str
    metrics: list[str]
    summary: dict[str, dict[str, dict[str, float]]]
    per_seed: pd.DataFrame
    best_single: str | None
    comparisons: list[dict[str, Any]]
    plots: dict[str, list[Path]] = field(default_factory=dict)
    #: every other system against the named ``reference`` (None when none was named)
    reference_comparisons: list[dict[str, Any]] | None = None


def _fmt(metric: str, value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if metric in PERCENT_METRICS:
        return no_negative_zero(f"{100 * value:.1f}")
    return no_negative_zero(f"{value:.3f}")


def chance_level(metric: str, labels: Sequence[str], y_true: Sequence[str] | None = None) -> float | None:
    """What guessing scores on ``metric``: uar 1/C; av_auc 0.5; accuracy the largest class share (1/C without
    labels); ccc 0. None for other metrics."""
    if metric == "uar":
        return 1.0 / len(labels) if labels else None
    if metric == "av_auc":
        return 0.5
    if metric == "accuracy":
        if y_true is not None and len(y_true):
            return float(pd.Series(list(y_true)).value_counts(normalize=True).max())
        return 1.0 / len(labels) if labels else None
    if metric == "ccc" or metric.startswith("ccc_"):
        return 0.0
    return None


def _header(metric: str) -> str:
    return f"{metric} (%)" if metric in PERCENT_METRICS else metric


def format_table(
    summary: dict[str, dict[str, dict[str, float]]],
    metrics: Sequence[str] | None = None,
    center: str = "median",
) -> str:
    """A pepino2020-style results table as markdown: one row per system, one column per metric.

    Args:
        summary: ``{system: {metric: summarise(...)}}`` from :func:`emofuse.evaluate.aggregate.summarise_systems`.
        metrics: columns to show (default: every metric of the first system).
        center: ``"median"`` prints median ± IQR (pepino2020 Table 1); ``"mean"`` prints mean ± std.

    ``accuracy`` and ``uar`` are printed in percent, the others with three decimals; the last column is the
    number of seeds.
    """
    if not summary:
        raise EvaluationError("nothing to tabulate: the summary has no systems")
    if center not in ("median", "mean"):
        raise EvaluationError(f"center={center!r}: use 'median' or 'mean'")
    spread = "iqr" if center == "median" else "std"
    names = list(metrics) if metrics is not None else list(next(iter(summary.values())))
    lines = [
        "| system | " + " | ".join(_header(m) for m in names) + " | seeds |",
        "| --- | " + " | ".join("---:" for _ in names) + " | ---: |",
    ]
    for system, per_metric in summary.items():
        cells = []
        for m in names:
            s = per_metric.get(m)
            cells.append("n/a" if s is None else f"{_fmt(m, s[center])} ± {_fmt(m, s[spread])}")
        n = max((int(per_metric[m]["n"]) for m in names if m in per_metric), default=0)
        lines.append(f"| {system} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines)


def _best_single(summary: dict, single: Sequence[str], primary: str) -> str | None:
    present = [s for s in single if s in summary]
    if not present:
        return None

    def key(system: str) -> tuple[float, float]:
        s = summary[system][primary]
        med = s["median"] if not math.isnan(s["median"]) else -math.inf
        mean = s["mean"] if not math.isnan(s["mean"]) else -math.inf
        return (med, mean)

    return max(present, key=key)


def _load(data: Any) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Return (predictions, per_seed) from what the caller gave."""
    if isinstance(data, str | os.PathLike):
        return read_predictions(data), None
    if not isinstance(data, pd.DataFrame):
        raise EvaluationError(
            f"write_report needs a predictions table, a per-seed metrics table or a path; got {type(data).__name__}"
        )
    if data.empty:
        raise EvaluationError("write_report got an empty table: there is nothing to report")
    if "utterance_id" in data.columns:
        return data, None
    if {"system", "seed"} <= set(data.columns):
        return None, data
    raise EvaluationError(
        f"cannot tell what table this is (columns {list(data.columns)}): a predictions table has utterance_id, "
        "a per-seed metrics table has system and seed and metric columns"
    )


def write_report(
    data: pd.DataFrame | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    labels: Sequence[Hashable] | None = None,
    single_modality: Sequence[str] = (),
    primary_metric: str | None = None,
    title: str = "emofuse results",
    notes: Sequence[str] = (),
    audio_baselines: Mapping[str, str] | None = None,
    transcript_quality: Mapping[str, Mapping[str, Any]] | None = None,
    reference: str | None = None,
) -> Report:
    """Write ``report.md``, ``report.json``, ``per_seed.csv`` (and ``per_fold.csv``) and ``plots/*.png`` to ``out_dir``.

    Args:
        data: a predictions table (docs/contracts.md; or a path to one / to a run-output root), or a per-seed
            metrics table (``system, seed`` + metric columns, as from ``metrics_from_predictions``). Confusion
            plots need predictions; the other outputs work from either.
        out_dir: directory to write into (created).
        labels: class names in output order (default: from the ``p_<class>`` columns).
        single_modality: the systems that use one modality (e.g. ``["audio", "text"]``); the best of them by
            median ``primary_metric`` is the baseline every other system is t-tested against.
        primary_metric: metric that picks the best single-modality system (default ``uar``, or ``ccc`` for A/V/D).
        title: heading of the markdown report.
        notes: lines printed under the heading and kept in ``report.json`` (``notes``), e.g. the protocol that ran.
        audio_baselines: ``{fusion system: its audio-only system}``: adds the relative valence improvement
            section and plot (deoliveira2023 Fig. 3, :mod:`emofuse.evaluate.relative_gain`).
        transcript_quality: ``{system: {"transcripts", "wer", ...}}``: adds the transcripts / WER table
            (deoliveira2023 Table 2, :mod:`emofuse.evaluate.transcript_quality`).
        reference: a system every other one is also t-tested against (perez2022: BERT), in its own section
            (:mod:`emofuse.evaluate.reference`) and ``report.json`` (``reference``, ``reference_comparisons``).
    """
    predictions, per_seed = _load(data)
    out = Path(out_dir)
    plots_dir = out / "plots"
    per_fold: pd.DataFrame | None = None
    if predictions is not None:
        task = infer_task(predictions)
        labs = [str(v) for v in (labels if labels is not None else infer_labels(predictions))]
        per_seed = metrics_from_predictions(predictions, labs, level="seed")
        if "fold" in predictions.columns:
            per_fold = metrics_from_predictions(predictions, labs, level="fold")
    else:
        assert per_seed is not None
        task = "avd" if "ccc" in per_seed.columns else "classes"
        labs = (
            [str(v) for v in labels]
            if labels is not None
            else [c[7:] for c in per_seed.columns if c.startswith("recall_")]
        )
    if task == "classes":
        metrics = [m for m in ("accuracy", "uar", "av_auc") if m in per_seed.columns]
    else:
        metrics = [m for m in metric_columns(per_seed) if m.startswith("ccc_")] + ["ccc"]
    if not metrics:
        raise EvaluationError(
            f"no metric columns (accuracy/uar/av_auc or ccc) in the per-seed table {list(per_seed.columns)}"
        )
    primary = primary_metric or ("uar" if task == "classes" else "ccc")
    if primary not in metrics:
        raise EvaluationError(f"primary_metric={primary!r} is not among the report's metrics {metrics}")
    summary = summarise_systems(per_seed, metrics)
    systems = list(summary)
    unknown = [s for s in single_modality if s not in summary]
    if unknown:
        raise EvaluationError(
            f"single_modality names systems {unknown} that are not in the results ({systems})"
        )
    best = _best_single(summary, single_modality, primary)
    others = [s for s in systems if s not in set(single_modality)]
    comparisons = paired_comparisons(per_seed, others, best, metrics) if best is not None else []
    against = reference_comparisons(per_seed, reference, metrics) if reference is not None else None

    plots: dict[str, list[Path]] = {"spread": [], "confusion": [], "per_class_recall": []}
    for metric in metrics:
        path = plots_dir / f"spread_{metric}.png"
        scores = {
            s: per_seed.loc[per_seed["system"] == s, metric].to_numpy(dtype=np.float64) for s in systems
        }
        y_true = predictions["label"].astype(str) if predictions is not None and task == "classes" else None
        plot_seed_spread(
            scores,
            metric,
            path,
            title=f"{metric} over seeds",
            chance=chance_level(metric, labs, y_true),
            percent=metric in PERCENT_METRICS,
        )
        plots["spread"].append(path)
    if task == "classes":
        recall_cols = [f"recall_{lab}" for lab in labs]
        if all(c in per_seed.columns for c in recall_cols):
            means, stds = {}, {}
            for s in systems:
                part = per_seed[per_seed["system"] == s]
                means[s] = {lab: float(part[f"recall_{lab}"].mean()) for lab in labs}
                stds[s] = {
                    lab: float(part[f"recall_{lab}"].std(ddof=1)) if len(part) > 1 else 0.0 for lab in labs
                }
            path = plots_dir / "per_class_recall.png"
            plot_per_class_recall(
                means,
                path,
                errors=stds,
                title="Per-class recall (mean ± std over seeds)",
                chance=chance_level("uar", labs),
            )
            plots["per_class_recall"].append(path)
        if predictions is not None:
            for s in systems:
                part = predictions[predictions["system"].astype(str) == s]
                y_true = part["label"].astype(str).to_numpy()
                if "pred" in part.columns:
                    y_pred = part["pred"].astype(str).to_numpy()
                else:
                    proba = part[[f"p_{lab}" for lab in labs]].to_numpy(dtype=np.float64)
                    y_pred = np.asarray([labs[i] for i in proba.argmax(axis=1)])
                counts = confusion(y_true, y_pred, labs)
                n_seeds = part["seed"].nunique()
                path = plots_dir / f"confusion_{slug(s)}.png"
                plot_confusion(counts, labs, path, title=f"{s} (pooled over {n_seeds} seed(s) and all folds)")
                plots["confusion"].append(path)

    extra_md, extra_json = _extra_sections(
        summary, metrics, plots_dir, plots, audio_baselines, transcript_quality
    )
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(per_seed, out / "per_seed.csv")
    if per_fold is not None:
        _write_csv(per_fold, out / "per_fold.csv")
    json_path, md_path = out / "report.json", out / "report.md"
    payload = {
        "title": title,
        "notes": list(notes),
        "task": task,
        "labels": labs if task == "classes" else None,
        "dims": (
            infer_dims(predictions)
            if predictions is not None
            else [m[4:] for m in metrics if m.startswith("ccc_")]
        )
        if task == "avd"
        else None,
        "metrics": metrics,
        "primary_metric": primary,
        "single_modality": list(single_modality),
        "best_single_modality": best,
        "summary": summary,
        "comparisons": comparisons,
        "reference": reference,
        "reference_comparisons": against,
        "per_seed": per_seed.to_dict(orient="records"),
        "plots": {k: [str(p.relative_to(out)) for p in v] for k, v in plots.items()},
        **extra_json,
    }
    atomic_write_json(json_path, payload)
    markdown = _markdown(
        title, task, labs, per_seed, summary, metrics, primary, best, comparisons, plots, out
    )
    if extra_md:
        head, _, rest = markdown.partition("## Plots")
        markdown = head + "\n".join(extra_md) + "\n## Plots" + rest
    if against is not None:  # the named reference's section, after the best-single one
        head, plots_header, rest = markdown.partition("## Plots\n")
        markdown = head + "\n".join(reference_section(str(reference), against)) + "\n" + plots_header + rest
    markdown += "\n".join(intersection_section(out, list(summary)))  # kumar2021's, when the runs have one
    if notes:
        head, _, rest = markdown.partition("\n")
        markdown = head + "\n\n" + "\n".join(notes) + "\n" + rest
    atomic_write_text(md_path, markdown)
    return Report(
        out, md_path, json_path, task, metrics, summary, per_seed, best, comparisons, plots, against
    )


def _extra_sections(
    summary: dict,
    metrics: list[str],
    plots_dir: Path,
    plots: dict[str, list[Path]],
    audio_baselines: Mapping[str, str] | None,
    transcript_quality: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[list[str], dict[str, Any]]:
    """The optional sections (each in its own module): markdown lines, report.json blocks; plots added."""
    from emofuse.evaluate.relative_gain import relative_gain_section
    from emofuse.evaluate.transcript_quality import transcript_section

    md: list[str] = []
    blocks: dict[str, Any] = {}
    if transcript_quality:
        lines, blocks["transcripts"] = transcript_section(summary, transcript_quality, metrics)
        md += lines
    if audio_baselines:
        lines, blocks["relative_improvement"], path = relative_gain_section(
            summary, audio_baselines, plots_dir
        )
        md += lines
        if path is not None:
            plots["relative_improvement"] = [path]
    return md, blocks


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def _markdown(
    title: str,
    task: str,
    labels: list[str],
    per_seed: pd.DataFrame,
    summary: dict,
    metrics: list[str],
    primary: str,
    best: str | None,
    comparisons: list[dict[str, Any]],
    plots: dict[str, list[Path]],
    out: Path,
) -> str:
    n_seeds = per_seed.groupby("system", sort=False)["seed"].nunique()
    lines = [f"# {title}", ""]
    what = f"classes {', '.join(labels)}" if task == "classes" else "arousal/valence/dominance regression"
    lines += [
        f"Task: {what}. Systems: {len(summary)}; seeds per system: {', '.join(f'{s} {int(n_seeds[s])}' for s in summary)}.",
        "Cross-validated metrics are computed on the test predictions pooled over folds, once per seed.",
        "",
        "## Median ± IQR over seeds",
        "",
        format_table(summary, metrics, center="median"),
        "",
        "## Mean ± std over seeds",
        "",
        format_table(summary, metrics, center="mean"),
        "",
    ]
    lines += ["## Paired t-tests against the best single modality", ""]
    if best is None:
        lines += ["No single-modality systems were named, so no paired tests were run.", ""]
    else:
        lines += [
            f"Baseline: **{best}** (best single-modality system by median {primary}). Two-sided paired t-test over seeds; "
            f"* marks p < {SIGNIFICANCE_LEVEL}. Differences of accuracy/uar are in percentage points.",
            "",
        ]
        if comparisons:
            lines += comparison_table(comparisons)
        else:
            lines.append("There are no systems besides the single-modality ones to compare.")
        lines.append("")
    lines += ["## Plots", ""]
    for kind, paths in plots.items():
        for p in paths:
            rel = p.relative_to(out).as_posix()
            lines.append(f"![{kind}: {p.stem}]({rel})")
    lines.append("")
    return "\n".join(lines)
