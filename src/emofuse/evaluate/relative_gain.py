"""Relative improvement of fusion systems over their audio-only baselines (deoliveira2023 Fig. 3).

deoliveira2023 plots, per speech model, ``(CCC_V(audio + text) - CCC_V(audio)) / CCC_V(audio)``: how much
the text adds to valence. :func:`relative_improvements` computes it from the report's per-system summary
(median over seeds) for each fusion system and the audio-only system it is paired with (the runner pairs
systems that share the audio encoder and training mode, :mod:`emofuse.train.report_extras`);
:func:`plot_relative_improvement` draws the bars; :func:`relative_gain_section` is the report's section.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from emofuse.evaluate.plots import save_figure
from emofuse.formatting import no_negative_zero

__all__ = ["plot_relative_improvement", "relative_gain_section", "relative_improvements"]

#: The metric of deoliveira2023 Fig. 3.
VALENCE_METRIC = "ccc_valence"


def relative_improvements(
    summary: Mapping[str, Mapping[str, Mapping[str, float]]],
    baselines: Mapping[str, str],
    metric: str = VALENCE_METRIC,
    center: str = "median",
) -> list[dict[str, Any]]:
    """One row per fusion system with a baseline in ``summary``: ``{system, baseline, metric, value,
    baseline_value, relative_pct}``; ``relative_pct = 100 * (value - baseline_value) / |baseline_value|``
    (NaN when the baseline scores 0 or is missing). ``center``: ``median`` or ``mean`` over seeds."""
    rows = []
    for system, baseline in baselines.items():
        if system not in summary or baseline not in summary or metric not in summary[system]:
            continue
        value = float(summary[system][metric][center])
        base = float(summary[baseline].get(metric, {}).get(center, math.nan))
        rel = 100.0 * (value - base) / abs(base) if base and math.isfinite(base) else math.nan
        rows.append(
            {
                "system": system,
                "baseline": baseline,
                "metric": metric,
                "value": value,
                "baseline_value": base,
                "relative_pct": rel,
            }
        )
    return rows


def plot_relative_improvement(
    rows: list[dict[str, Any]], path: str | os.PathLike[str], title: str = ""
) -> Figure:
    """Bars of ``relative_pct`` per fusion system (labelled ``system vs baseline``), each bar annotated; written
    to ``path`` (PNG) and returned (bar ``k`` is ``fig.axes[0].patches[k]``, its height ``rows[k]``'s value)."""
    fig = Figure(figsize=(max(4.0, 1.2 * len(rows) + 2.0), 3.6))
    ax = fig.add_subplot(1, 1, 1)
    values = [0.0 if math.isnan(r["relative_pct"]) else r["relative_pct"] for r in rows]
    xs = list(range(len(rows)))
    ax.bar(xs, values, color=["#4C72B0" if v >= 0 else "#C44E52" for v in values])
    for x, r, v in zip(xs, rows, values, strict=True):
        text = "n/a" if math.isnan(r["relative_pct"]) else no_negative_zero(f"{v:+.1f}%")
        ax.annotate(text, (x, v), ha="center", va="bottom" if v >= 0 else "top", fontsize=8)
    ax.set_xticks(xs, [f"{r['system']}\nvs {r['baseline']}" for r in rows], fontsize=7)
    ax.axhline(0.0, color="black", linewidth=0.8)
    metric = rows[0]["metric"] if rows else VALENCE_METRIC
    ax.set_ylabel(f"relative {metric} improvement (%)")
    ax.set_title(title or f"Relative {metric} improvement over audio-only")
    save_figure(fig, path)
    return fig


def relative_gain_section(
    summary: Mapping[str, Mapping[str, Mapping[str, float]]],
    baselines: Mapping[str, str],
    plots_dir: Path,
    metric: str = VALENCE_METRIC,
) -> tuple[list[str], list[dict[str, Any]], Path | None]:
    """The report's section: ``(markdown lines, rows for report.json, plot path)``; nothing when no fusion
    system has its baseline in the report or the report has no ``metric``."""
    rows = relative_improvements(summary, baselines, metric)
    if not rows:
        return [], [], None
    path = plots_dir / f"relative_{metric}.png"
    plot_relative_improvement(rows, path)
    lines = [
        f"## Relative {metric} improvement over audio-only (deoliveira2023 Fig. 3)",
        "",
        "Median over seeds; relative = (fusion - audio-only) / |audio-only|. Each fusion system is compared "
        "with the audio-only system that has the same audio encoder and training mode.",
        "",
        f"| system | audio-only | {metric} | audio-only {metric} | relative |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        rel = "n/a" if math.isnan(r["relative_pct"]) else no_negative_zero(f"{r['relative_pct']:+.1f}%")
        value, base = (no_negative_zero(f"{r[k]:.3f}") for k in ("value", "baseline_value"))
        lines.append(f"| {r['system']} | {r['baseline']} | {value} | {base} | {rel} |")
    return [*lines, ""], rows, path
