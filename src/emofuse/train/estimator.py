"""Classic (scikit-learn) estimators as emofuse systems: eGeMAPS functionals + linear SVM, the baseline.

A recipe with an ``estimator`` block trains no network: the runner gathers each utterance's pooled feature
vector (``[D]``, z-scored with statistics of the fold's training utterances when the feature block says
``standardize: true``), fits the scikit-learn estimator and writes the fitted linear decision function into the
recipe's model (one pass-through ``dense`` branch with ``out_dim: null`` and a linear ``classes`` head), so the
run directory, predictions, reports, ``emofuse predict`` and the packaged model work as for any system.

``C`` is chosen from ``c_grid`` by the fold's dev ``uar`` (never the test part); with ``refit: train_dev`` the
chosen ``C`` is then refitted on train + dev. Without dev utterances ``default_c`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from emofuse.recipes.estimator import EstimatorConfig

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from emofuse.train.data import EmotionDataset
    from emofuse.train.fit import FitResult


def _vectors(
    model: nn.Module, dataset: EmotionDataset, batch_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``[N, D]`` (the pass-through branch's embedding) and integer targets ``[N]``."""
    import torch

    from emofuse.train.fit import make_loader

    name = model.branch_names[0]
    xs, ys = [], []
    with torch.no_grad():
        for batch in make_loader(dataset, batch_size, shuffle=False, seed=seed):
            xs.append(model.branches[name](batch["inputs"][name], batch["masks"].get(name))["embedding"])
            ys.append(batch["targets"])
    return torch.cat(xs).double().numpy(), torch.cat(ys).long().numpy()


def _fit_svm(x: np.ndarray, y: np.ndarray, c: float, config: EstimatorConfig, seed: int) -> Any:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    svm = LinearSVC(
        C=c,
        class_weight="balanced" if config.class_weight == "balanced" else None,
        max_iter=config.max_iter,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(x, y)
    return svm


def _uar(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import recall_score

    return float(recall_score(y_true, y_pred, average="macro", labels=np.unique(y_true), zero_division=0))


def fit_estimator(
    model: nn.Module,
    train: EmotionDataset,
    dev: EmotionDataset | None,
    config: EstimatorConfig,
    labels: list[str],
    seed: int,
    batch_size: int = 256,
) -> FitResult:
    """Fit the estimator on ``train`` (C chosen on ``dev``) and write it into ``model``'s linear head.

    Returns a FitResult whose ``history`` holds one row per ``C`` tried (``{"C": c, "dev_uar": u}``) and
    the chosen one (``{"chosen_C": c, "refit_on": "train" | "train_dev"}``).
    """
    import torch

    from emofuse.train.fit import FitResult
    from emofuse.train.module import EmotionLightningModule

    x_train, y_train = _vectors(model, train, batch_size, seed)
    history: list[dict[str, Any]] = []
    if dev is not None and len(dev):
        x_dev, y_dev = _vectors(model, dev, batch_size, seed)
        scores = []
        for c in config.c_grid:
            u = _uar(y_dev, _fit_svm(x_train, y_train, c, config, seed).predict(x_dev))
            scores.append(u)
            history.append({"C": float(c), "dev_uar": u})
        chosen = float(config.c_grid[int(np.argmax(scores))])  # first best: the smallest C among ties
        if config.refit == "train_dev":
            x_train, y_train = np.concatenate([x_train, x_dev]), np.concatenate([y_train, y_dev])
        refit_on = config.refit
    else:
        chosen, refit_on = float(config.default_c), "train"
    svm = _fit_svm(x_train, y_train, chosen, config, seed)
    history.append({"chosen_C": chosen, "refit_on": refit_on})
    n_classes = len(labels)
    weight = np.zeros((n_classes, x_train.shape[1]))
    bias = np.full(n_classes, -1e4)  # a class absent from training is never predicted
    coef, intercept = np.atleast_2d(svm.coef_), np.atleast_1d(svm.intercept_)
    if len(svm.classes_) == 2 and coef.shape[0] == 1:  # binary: one decision function, positive = classes_[1]
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    for row, cls in enumerate(svm.classes_):
        weight[int(cls)], bias[int(cls)] = coef[row], intercept[row]
    head = model.branch_heads[model.branch_names[0]].out
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(weight, dtype=head.weight.dtype))
        head.bias.copy_(torch.as_tensor(bias, dtype=head.bias.dtype))
    module = EmotionLightningModule(model, "classes", labels)
    module.eval()
    return FitResult(module, 0, None, history)


__all__ = ["fit_estimator"]
