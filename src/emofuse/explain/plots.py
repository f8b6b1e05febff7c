"""Explanation plots (PNG): emotion embeddings in PCA space (kumar2021 Fig. 4), intersection matrices
(kumar2021 Tables 1-5 as heatmaps), and learned layer weights (makiuchi2021, deoliveira2023).

Drawn with matplotlib's object API on an Agg canvas and written atomically (see ``emofuse.evaluate.plots``).
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

import numpy as np
from matplotlib.figure import Figure

from emofuse.evaluate.plots import save_figure
from emofuse.explain.intersection import ExplainError, _project, _validate

__all__ = ["plot_embeddings_pca", "plot_intersection_matrix", "plot_layer_weights", "normalise_layer_weights"]

_MARKERS = ["D", "<", "s", "o", "^", "v", "P", "X", "*", "h"]


def plot_embeddings_pca(
    embeddings: np.ndarray,
    labels: Sequence[Hashable],
    path: str | os.PathLike[str],
    classes: Sequence[Hashable] | None = None,
    standardize: bool = True,
    title: str = "",
    components: Literal[2, 3] = 2,
) -> None:
    """Scatter of the embeddings on their first principal components, one colour and marker per class.

    Args:
        embeddings: one layer's outputs ``[N, E]``.
        labels: class of each row ``[N]``.
        path: PNG file to write.
        classes: class order for the legend (default: sorted unique labels).
        standardize: standardise features before PCA (as :func:`intersection_matrix` does).
        title: e.g. the layer's name.
        components: 2 (one panel, PC 1 vs PC 2) or 3: the three components the intersection matrix uses
            (kumar2021 Fig. 4), as three panels PC 1/2, PC 1/3 and PC 2/3 (fewer when ``N`` or ``E`` is smaller).
    """
    cls = list(classes) if classes is not None else sorted(set(np.asarray(labels).tolist()), key=str)
    x, y, cls = _validate(embeddings, labels, cls)
    if x.shape[0] < 2 or x.shape[1] < 2:
        raise ExplainError(f"need at least 2 embeddings of at least 2 dimensions to plot; got {x.shape}")
    z, ratio = _project(x, components, standardize, 0)
    pairs = [(0, 1), (0, 2), (1, 2)][: 1 if z.shape[1] < 3 else 3]
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    fig = Figure(figsize=(5.6 * len(pairs), 5.0))
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (a, b) in zip(axes, pairs, strict=True):
        for k, c in enumerate(cls):
            pts = z[y == c]
            ax.scatter(
                pts[:, a],
                pts[:, b],
                s=18,
                alpha=0.7,
                marker=_MARKERS[k % len(_MARKERS)],
                color=cmap(k % 10),
                label=str(c),
            )
        ax.set_xlabel(f"PC {a + 1} ({ratio[a]:.0%} of variance)")
        ax.set_ylabel(f"PC {b + 1} ({ratio[b]:.0%} of variance)")
        ax.grid(alpha=0.3)
    axes[0].set_title(title or "embeddings (PCA)")
    axes[0].legend(fontsize=8, markerscale=1.3)
    save_figure(fig, path)


def plot_intersection_matrix(
    matrix: np.ndarray, classes: Sequence[Hashable], path: str | os.PathLike[str], title: str = ""
) -> None:
    """Heatmap of an intersection matrix ``[C, C]`` with each value printed (kumar2021's tables)."""
    m = np.asarray(matrix, dtype=np.float64)
    n = len(classes)
    if m.shape != (n, n):
        raise ExplainError(
            f"intersection matrix has shape {m.shape}; expected [{n}, {n}] for classes {list(classes)}"
        )
    fig = Figure(figsize=(1.6 + 1.0 * n, 1.0 + 0.9 * n))
    ax = fig.subplots()
    image = ax.imshow(m, cmap="YlGnBu", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(n), [str(c) for c in classes])
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{m[i, j]:.3f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if m[i, j] > 0.6 else "black",
            )
    ax.set_title(title or "intersection matrix")
    save_figure(fig, path)


def normalise_layer_weights(
    weights: Sequence[float] | np.ndarray, normalization: Literal["none", "softmax", "sum"] = "none"
) -> np.ndarray:
    """Turn raw layer weights ``[L]`` into the mixing weights the model applies.

    ``"softmax"``: softmax over layers (deoliveira2023, emofuse's default layer weighting); ``"sum"``: divided by
    their sum (makiuchi2021's weighted average); ``"none"``: as given (already normalised).
    """
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or not np.all(np.isfinite(w)):
        raise ExplainError(f"layer weights must be a non-empty finite vector [L]; got {w.tolist()}")
    if normalization == "softmax":
        e = np.exp(w - w.max())
        return e / e.sum()
    if normalization == "sum":
        total = w.sum()
        if total == 0:
            raise ExplainError("layer weights sum to 0: cannot sum-normalise them")
        return w / total
    if normalization == "none":
        return w
    raise ExplainError(f"normalization={normalization!r}: use 'none', 'softmax' or 'sum'")


def plot_layer_weights(
    weights: Sequence[float] | np.ndarray | Mapping[str, Sequence[float] | np.ndarray],
    path: str | os.PathLike[str],
    normalization: Literal["none", "softmax", "sum"] = "none",
    title: str = "",
) -> None:
    """Bar chart of learned per-layer weights (layer 0 = the encoder's input embeddings / CNN output).

    Args:
        weights: one vector ``[L]`` or ``{branch name: [L_b]}`` for several encoders (one panel each).
        path: PNG file to write.
        normalization: see :func:`normalise_layer_weights`.
        title: figure title.
    """
    series = dict(weights) if isinstance(weights, Mapping) else {"": weights}
    if not series:
        raise ExplainError("no layer weights to plot")
    normed = {name: normalise_layer_weights(w, normalization) for name, w in series.items()}
    fig = Figure(
        figsize=(max(4.5, 0.35 * max(len(w) for w in normed.values()) + 2), 2.8 * len(normed) + 0.6),
        layout="constrained",
    )
    axes = np.atleast_1d(fig.subplots(len(normed), 1, squeeze=False)[:, 0])
    for ax, (name, w) in zip(axes, normed.items(), strict=True):
        layers = np.arange(len(w))
        top = int(np.argmax(w)) if np.ptp(w) > 0 else -1  # highlight the heaviest layer, if there is one
        colours = ["tab:orange" if k == top else "tab:blue" for k in layers]
        ax.bar(layers, w, color=colours)
        if len(w) == 1:
            ax.set_xlim(-1, 1)
        ax.set_xticks(layers)
        ax.set_xlabel("layer")
        ax.set_ylabel("weight")
        if abs(float(w.sum()) - 1.0) < 1e-6:  # normalised weights: show what a uniform average would give
            ax.axhline(1.0 / len(w), color="grey", lw=0.8, ls="--", label="uniform")
            ax.legend(fontsize=8)
        ax.set_title(name or title or "learned layer weights", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if title and len(normed) > 1:
        fig.suptitle(title)
    save_figure(fig, path)
