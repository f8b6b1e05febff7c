"""The ``estimator`` block of a recipe: a scikit-learn estimator in place of gradient training (the runner's side
is :mod:`emofuse.train.estimator`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EstimatorConfig(BaseModel):
    """A scikit-learn estimator in place of gradient training (``kind: linear_svm``: ``sklearn.svm.LinearSVC``)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["linear_svm"] = "linear_svm"
    c_grid: list[float] = Field(default_factory=lambda: [0.0001, 0.001, 0.01, 0.1, 1.0], min_length=1)
    default_c: float = Field(default=0.01, gt=0)
    class_weight: Literal["balanced", "none"] = "balanced"
    max_iter: int = Field(default=20000, ge=100)
    refit: Literal["train", "train_dev"] = "train_dev"


def check_estimator_model(model: Any, task: str) -> None:
    """The model part an estimator recipe needs: one ``dense`` branch with ``out_dim: null``, linear head.

    Raises ValueError (the recipe schema turns it into a message naming the key).
    """
    if task != "classes":
        raise ValueError("estimator systems need data.task: classes")
    if model.fusion != "none" or len(model.branches) != 1:
        raise ValueError("an estimator system has one branch and model.fusion: none")
    branch = next(iter(model.branches.values()))
    if branch.type != "dense" or branch.params.get("out_dim", 128) is not None:
        raise ValueError(
            "an estimator system's branch must pass the features through: {type: dense, params: {out_dim: null}}"
        )
    if model.head.type != "classes" or model.head.params.get("hidden"):
        raise ValueError("an estimator system needs a linear head: {type: classes} without hidden")


__all__ = ["EstimatorConfig", "check_estimator_model"]
