"""Report plots (PNG): confusion matrix, per-class recall bars, spread of a metric over seeds (pepino2020 Fig. 3).

Figures are drawn with matplotlib's object API on an Agg canvas (no pyplot, no global backend switch, safe in
threads and on machines without a display) and written atomically.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from emofuse.evaluate.errors import EvaluationError
from emofuse.io import atomic_write_bytes

__all__ = [
    "MIN_SEEDS_FOR_BOX",
    "save_figure",
    "slug",
    "plot_confusion",
    "plot_per_class_recall",
    "plot_seed_spread",
    "plot_timeline",
    "spread_figure",
]


def slug(name: str) -> str:
    """A file-name-safe version of a system name (``"EF-CS (bert)"`` -> ``"EF-CS_bert"``)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_")
    return out or "system"


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Render ``fig`` to PNG and write it atomically to ``path``."""
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def plot_confusion(
    counts: np.ndarray, labels: Sequence[Hashable], path: str | os.PathLike[str], title: str = ""
) -> None:
    """Row-normalised confusion matrix (colour = fraction of the true class), annotated with counts and percentages.

    Args:
        counts: confusion counts ``[C, C]``, row = true class, column = predicted class.
        labels: the C class names.
        path: PNG file to write.
        title: figure title (e.g. the system name).
    """
    cm = np.asarray(counts, dtype=np.float64)
    n = len(labels)
    if cm.shape != (n, n):
        raise EvaluationError(
            f"confusion counts have shape {cm.shape}; expected [{n}, {n}] for labels {list(labels)}"
        )
    support = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, support, out=np.zeros_like(cm), where=support > 0)
    size = 1.2 + 0.9 * n
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    image = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(n), [str(v) for v in labels], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(v) for v in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            colour = "white" if norm[i, j] > 0.5 else "black"
            ax.text(
                j, i, f"{int(cm[i, j])}\n{norm[i, j]:.0%}", ha="center", va="center", color=colour, fontsize=9
            )
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def plot_per_class_recall(
    recalls: Mapping[str, Mapping[Hashable, float]],
    path: str | os.PathLike[str],
    errors: Mapping[str, Mapping[Hashable, float]] | None = None,
    title: str = "Per-class recall",
    chance: float | None = None,
) -> None:
    """Grouped bars: recall of each class (x) for each system (bar colour), in percent.

    Args:
        recalls: ``{system: {class: recall}}`` as fractions (e.g. the mean over seeds); NaN bars are left empty.
        path: PNG file to write.
        errors: optional ``{system: {class: error-bar half-length}}`` (e.g. the std over seeds), fractions.
        title: figure title.
        chance: a fraction drawn as a dashed "chance" line (1 / number of classes for recall), or None.
    """
    systems = list(recalls)
    if not systems:
        raise EvaluationError("no systems to plot recall for")
    classes = list(next(iter(recalls.values())))
    n_sys, n_cls = len(systems), len(classes)
    width = 0.8 / n_sys
    fig = Figure(figsize=(max(5.0, 1.1 * n_cls * max(1.0, n_sys / 3) + 2), 4.2))
    ax = fig.subplots()
    x = np.arange(n_cls)
    cmap = _colours(n_sys)
    for k, system in enumerate(systems):
        values = [100 * recalls[system].get(c, np.nan) for c in classes]
        err = [100 * errors[system].get(c, np.nan) for c in classes] if errors and system in errors else None
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, yerr=err, capsize=2, label=system, color=cmap[k])
    if chance is not None:
        _chance_line(ax, 100 * chance)
    ax.set_xticks(x, [str(c) for c in classes])
    ax.set_ylim(0, 105)
    ax.set_ylabel("recall (%)")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(n_sys, 4), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    save_figure(fig, path)


#: From this many seeds on, the spread plot draws a box; with fewer, the seeds' dots and their median only
#: (a box drawn from three points suggests quartiles there is no data for).
MIN_SEEDS_FOR_BOX = 5


def plot_seed_spread(
    scores: Mapping[str, Sequence[float]],
    metric: str,
    path: str | os.PathLike[str],
    title: str = "",
    chance: float | None = None,
    percent: bool = False,
) -> None:
    """Write :func:`spread_figure` of ``scores`` to ``path`` (PNG)."""
    save_figure(spread_figure(scores, metric, title, chance, percent), path)


def spread_figure(
    scores: Mapping[str, Sequence[float]],
    metric: str,
    title: str = "",
    chance: float | None = None,
    percent: bool = False,
) -> Figure:
    """One metric's spread over seeds per system: every seed a dot, the median a bar, and a box-and-whisker
    plot for systems with at least :data:`MIN_SEEDS_FOR_BOX` seeds (pepino2020 Fig. 3: AvAUC over 10 seeds).

    Args:
        scores: ``{system: [score per seed]}`` (fractions for percent metrics) in display order; NaNs dropped.
        metric: metric name for the axis label.
        title: figure title.
        chance: the metric's chance level (same unit as ``scores``), drawn as a dashed line; None draws none.
        percent: show the scores (and ``chance``) multiplied by 100, the axis labelled "(%)".
    """
    systems = list(scores)
    if not systems:
        raise EvaluationError("no systems to plot")
    scale = 100.0 if percent else 1.0
    data = [scale * np.asarray(scores[s], dtype=np.float64) for s in systems]
    data = [d[np.isfinite(d)] for d in data]
    fig = Figure(figsize=(max(4.5, 1.0 * len(systems) + 1.5), 4.2))
    ax = fig.subplots()
    positions = np.arange(1, len(systems) + 1)
    boxed = [k for k, d in enumerate(data) if d.size >= MIN_SEEDS_FOR_BOX]
    if boxed:
        ax.boxplot(
            [data[k] for k in boxed],
            positions=positions[boxed],
            widths=0.5,
            medianprops={"color": "black"},
            showfliers=False,
        )
    rng = np.random.default_rng(0)
    colours = _colours(len(systems))
    for k, d in enumerate(data):
        jitter = rng.uniform(-0.12, 0.12, size=d.size)
        ax.scatter(positions[k] + jitter, d, s=16, color=colours[k], alpha=0.85, zorder=3)
        if d.size and k not in boxed:
            ax.hlines(np.median(d), positions[k] - 0.25, positions[k] + 0.25, color="black", lw=2, zorder=4)
    if chance is not None:
        _chance_line(ax, scale * chance)
    ax.set_xticks(positions, systems)
    ax.set_xlim(0.4, len(systems) + 0.6)
    ax.set_ylabel(f"{metric} (%)" if percent else metric)
    few = (
        ""
        if len(boxed) == len(systems)
        else f"; dots = seeds, bar = median (boxes from {MIN_SEEDS_FOR_BOX} seeds)"
    )
    ax.set_title((title or f"{metric} over seeds") + few, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)
        tick.set_ha("right")
    return fig


def plot_timeline(
    segments: Sequence[Mapping[str, object]],
    path: str | os.PathLike[str],
    title: str = "Emotions over time",
) -> None:
    """Emotions over a recording: per segment, stacked class probabilities (%) or A/V/D values, over time.

    Args:
        segments: ``[{start_s, end_s, probabilities: {class: p}} or {start_s, end_s, avd: {dim: value}}]`` in
            time order (:class:`emofuse.serve.segments.SegmentResult` dicts); gaps between segments stay blank.
        path: PNG file to write.
        title: figure title.
    """
    if not segments:
        raise EvaluationError("no segments to plot: the recording held no speech")
    starts = np.asarray([float(s["start_s"]) for s in segments])  # type: ignore[arg-type]
    ends = np.asarray([float(s["end_s"]) for s in segments])  # type: ignore[arg-type]
    total_s = float(ends.max())
    minutes = total_s > 180
    scale = 60.0 if minutes else 1.0
    fig = Figure(figsize=(min(16.0, max(7.0, 0.05 * len(segments) + 6)), 3.6))
    ax = fig.subplots()
    probs = [s.get("probabilities") for s in segments]
    if all(isinstance(p, Mapping) for p in probs):
        classes = list(probs[0])  # type: ignore[arg-type]
        colours = _colours(len(classes))
        bottom = np.zeros(len(segments))
        for k, c in enumerate(classes):
            height = 100 * np.asarray([float(p[c]) for p in probs])  # type: ignore[index]
            ax.bar(starts / scale, height, width=(ends - starts) / scale, bottom=bottom, align="edge",
                   color=colours[k], label=str(c), linewidth=0)  # fmt: skip
            bottom += height
        ax.set_ylim(0, 100)
        ax.set_ylabel("probability (%)")
    else:
        dims = list(segments[0].get("avd") or {})  # type: ignore[arg-type]
        if not dims:
            raise EvaluationError("segments carry neither probabilities nor avd values")
        colours = _colours(len(dims))
        for k, d in enumerate(dims):
            values = [float(s["avd"][d]) for s in segments]  # type: ignore[index]
            xs = np.ravel(np.column_stack([starts, ends])) / scale
            ax.plot(xs, np.repeat(values, 2), color=colours[k], label=d)
        ax.set_ylabel("predicted value")
    ax.set_xlim(0, total_s / scale)
    ax.set_xlabel("time (min)" if minutes else "time (s)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncols=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    save_figure(fig, path)


def _chance_line(ax: Axes, level: float) -> None:
    ax.axhline(level, color="grey", ls="--", lw=1, zorder=1)
    ax.annotate(
        "chance",
        (1.0, level),
        xycoords=("axes fraction", "data"),
        xytext=(-2, 2),
        textcoords="offset points",
        ha="right",
        va="bottom",
        fontsize=8,
        color="grey",
    )


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
