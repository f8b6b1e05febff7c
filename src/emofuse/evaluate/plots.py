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
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from emofuse.evaluate.errors import EvaluationError
from emofuse.io import atomic_write_bytes

__all__ = ["save_figure", "slug", "plot_confusion", "plot_per_class_recall", "plot_seed_spread"]


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
) -> None:
    """Grouped bars: recall of each class (x) for each system (bar colour).

    Args:
        recalls: ``{system: {class: recall}}`` (e.g. the mean over seeds); NaN bars are left empty.
        path: PNG file to write.
        errors: optional ``{system: {class: error-bar half-length}}`` (e.g. the std over seeds).
        title: figure title.
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
        values = [recalls[system].get(c, np.nan) for c in classes]
        err = [errors[system].get(c, np.nan) for c in classes] if errors and system in errors else None
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, yerr=err, capsize=2, label=system, color=cmap[k])
    ax.set_xticks(x, [str(c) for c in classes])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("recall")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(n_sys, 4), loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    save_figure(fig, path)


def plot_seed_spread(
    scores: Mapping[str, Sequence[float]], metric: str, path: str | os.PathLike[str], title: str = ""
) -> None:
    """Box-and-whisker plot of one metric's spread over seeds per system, each seed drawn as a dot
    (pepino2020 Fig. 3: AvAUC distributions over 10 seeds per system).

    Args:
        scores: ``{system: [score per seed]}`` in display order; NaN scores are dropped.
        metric: metric name for the axis label.
        path: PNG file to write.
        title: figure title.
    """
    systems = list(scores)
    if not systems:
        raise EvaluationError("no systems to plot")
    data = [np.asarray(scores[s], dtype=np.float64) for s in systems]
    data = [d[np.isfinite(d)] for d in data]
    fig = Figure(figsize=(max(4.5, 1.0 * len(systems) + 1.5), 4.2))
    ax = fig.subplots()
    ax.boxplot(data, tick_labels=systems, widths=0.5, medianprops={"color": "black"}, showfliers=False)
    rng = np.random.default_rng(0)
    colours = _colours(len(systems))
    for k, d in enumerate(data):
        jitter = rng.uniform(-0.12, 0.12, size=d.size)
        ax.scatter(np.full(d.size, k + 1) + jitter, d, s=14, color=colours[k], alpha=0.8, zorder=3)
    ax.set_ylabel(metric)
    ax.set_title(title or f"{metric} over seeds")
    ax.grid(axis="y", alpha=0.3)
    for tick in ax.get_xticklabels():
        tick.set_rotation(30)
        tick.set_ha("right")
    save_figure(fig, path)


def _colours(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
