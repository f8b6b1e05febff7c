"""Explanations: kumar2021's intersection matrix and embedding plots, learned layer-weight plots, and
integrated-gradients token attributions (``emofuse.explain.attributions``, which imports torch and captum, is
loaded on first use)."""

from __future__ import annotations

from typing import Any

from emofuse.explain.intersection import (
    ClassSpreads,
    ExplainError,
    class_spreads,
    intersection_matrix,
    interval_intersection,
)
from emofuse.explain.plots import (
    normalise_layer_weights,
    plot_embeddings_pca,
    plot_intersection_matrix,
    plot_layer_weights,
)

__all__ = [
    "ClassSpreads",
    "ExplainError",
    "class_spreads",
    "interval_intersection",
    "intersection_matrix",
    "normalise_layer_weights",
    "plot_embeddings_pca",
    "plot_intersection_matrix",
    "plot_layer_weights",
    "token_attributions",
]


def __getattr__(name: str) -> Any:
    if name == "token_attributions":
        from emofuse.explain.attributions import token_attributions

        return token_attributions
    raise AttributeError(f"module 'emofuse.explain' has no attribute {name!r}")
