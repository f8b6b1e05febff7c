"""kumar2021's intersection-matrix summary of finished runs, for the report of an ablation (Sec. 4.1, Tables 1-4).

For every system whose recipe lists ``analyses.intersection_layers`` (kumar2021: ``embedding`` = the concatenation,
the third-last layer; ``hidden`` = the second-last; ``output`` = the softmax layer), the test embeddings of each
fold of the smallest seed are recomputed with the saved weights (:func:`emofuse.explain.runs.run_embeddings`),
each layer's intersection matrix is computed per fold and averaged over the folds, and two plots are written per
layer under ``<out>/plots/intersection/<system>/``: the matrix and the embeddings of the first fold on the three
principal components the matrix uses. Everything goes to ``<out>/intersection_summary.json`` (systems of earlier
calls into the same folder are kept), which the report renders (:mod:`emofuse.evaluate.intersection_section`).

``run_experiment(..., analyses=intersection_analysis(table, store, transcripts))`` runs it after training and
before the report; ``emofuse run`` does so by itself when a recipe asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emofuse.errors import EmofuseError
from emofuse.evaluate.plots import slug
from emofuse.explain.intersection import intersection_matrix
from emofuse.explain.plots import plot_embeddings_pca, plot_intersection_matrix
from emofuse.explain.runs import RunEmbeddings, find_runs, mean_matrix, run_embeddings
from emofuse.io import atomic_write_json, read_json
from emofuse.recipes.schema import Recipe

#: the summary file the report reads (in the runner's output folder)
SUMMARY_FILE = "intersection_summary.json"


def common_classes(embeddings: Sequence[RunEmbeddings]) -> list[str]:
    """The classes present in the test part of every run, in output order."""
    present = [set(emb.labels) for emb in embeddings]
    return [c for c in embeddings[0].classes if all(c in p for p in present)]


def layer_summary(
    embeddings: Sequence[RunEmbeddings], layer: str, plot_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """One layer's intersection matrix ``[C, C]`` averaged over the runs (folds), with its two plots.

    ``C``: the classes every fold's test part holds. Returns ``{"skipped": reason}`` when the model has no such
    layer or fewer than two classes are common to the folds (the report says so; training results stand).
    """
    if any(layer not in emb.layers for emb in embeddings):
        return {"skipped": f"no layer {layer!r} in this model (it offers {sorted(embeddings[0].layers)})"}
    classes = common_classes(embeddings)
    if len(classes) < 2:
        return {"skipped": f"fewer than two classes are in every fold's test part ({classes})"}
    matrices = []
    for emb in embeddings:
        keep = np.isin(emb.labels, classes)
        labels = [lab for lab, k in zip(emb.labels, keep, strict=True) if k]
        matrices.append(intersection_matrix(emb.layers[layer][keep], labels, classes))
    matrix = mean_matrix(matrices)
    first = embeddings[0]
    pca_path, matrix_path = plot_dir / f"{slug(layer)}_pca.png", plot_dir / f"{slug(layer)}_matrix.png"
    plot_embeddings_pca(
        first.layers[layer],
        first.labels,
        pca_path,
        classes=[c for c in first.classes if c in set(first.labels)],
        title=f"{layer}, {first.fold}",
        components=3,
    )
    what = f"mean over {len(matrices)} folds"
    plot_intersection_matrix(matrix, classes, matrix_path, title=f"{layer}: intersection ({what})")
    off = matrix[~np.eye(len(classes), dtype=bool)]
    return {
        "classes": classes,
        "matrix": matrix.tolist(),
        "mean_off_diagonal": float(off.mean()),
        "n_folds": len(matrices),
        "dim": int(first.layers[layer].shape[1]),
        "plots": {"pca": str(pca_path.relative_to(out_dir)), "matrix": str(matrix_path.relative_to(out_dir))},
    }


def system_summary(
    out_dir: Path,
    recipe: Recipe,
    table: pd.DataFrame,
    store: Any,
    transcripts: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """``{"seed": s, "layers": {layer: layer_summary}}`` of one system's finished runs of its smallest seed."""
    runs = find_runs(out_dir, recipe.name)
    seed = int(runs[0].parent.name.removeprefix("seed"))
    embeddings = [run_embeddings(r, table, store, transcripts) for r in runs]
    plot_dir = out_dir / "plots" / "intersection" / slug(recipe.name)
    layers = {
        layer: layer_summary(embeddings, layer, plot_dir, out_dir)
        for layer in recipe.analyses.intersection_layers
    }
    return {"seed": seed, "layers": layers}


def write_intersection_summary(
    out_dir: Path,
    recipes: Sequence[Recipe],
    table: pd.DataFrame,
    store: Any,
    transcripts: pd.DataFrame | None = None,
) -> Path | None:
    """Add the summaries of the recipes that ask for one to ``<out_dir>/intersection_summary.json`` (earlier
    systems kept); returns the file, or None when no recipe asks."""
    asking = [r for r in recipes if r.analyses.intersection_layers and r.data.task == "classes"]
    if not asking:
        return None
    path = out_dir / SUMMARY_FILE
    summary: dict[str, Any] = read_json(path) if path.is_file() else {}
    for r in asking:
        try:
            summary[r.name] = system_summary(out_dir, r, table, store, transcripts)
        except EmofuseError as exc:  # the report says why; the finished runs stand
            summary[r.name] = {"seed": None, "layers": {}, "skipped": str(exc)}
    atomic_write_json(path, summary)
    return path


def intersection_analysis(
    table: pd.DataFrame, store: Any, transcripts: pd.DataFrame | None = None
) -> Callable[[Path, Sequence[Recipe]], None]:
    """The ``analyses`` hook of :func:`emofuse.train.run_experiment`: the summary, before the report is written."""

    def analyse(out_dir: Path, recipes: Sequence[Recipe]) -> None:
        write_intersection_summary(out_dir, recipes, table, store, transcripts)

    return analyse


__all__ = [
    "SUMMARY_FILE",
    "common_classes",
    "intersection_analysis",
    "layer_summary",
    "system_summary",
    "write_intersection_summary",
]
