"""What a trained run produces: the predictions table, per-fold metrics, and dev-tuned score-fusion weights."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from emofuse.errors import ConfigError
from emofuse.recipes.schema import Recipe
from emofuse.train.data import EmotionDataset


def loader(dataset: EmotionDataset, batch_size: int, seed: int) -> Any:
    """An unshuffled loader over ``dataset`` (prediction order = dataset order)."""
    from emofuse.train.fit import make_loader

    return make_loader(dataset, batch_size, shuffle=False, seed=seed)


def predictions_frame(
    recipe: Recipe,
    seed: int,
    fold: str,
    ids: list[str],
    outputs: np.ndarray,
    targets: np.ndarray,
    labels: list[str],
) -> pd.DataFrame:
    """The ``predictions.csv`` rows (docs/contracts.md): ``outputs`` ``[N, C]`` probabilities or ``[N, K]`` A/V/D."""
    base = {"system": recipe.name, "seed": seed, "fold": fold, "utterance_id": ids}
    if recipe.data.task == "classes":
        names = np.asarray(labels, dtype=object)
        cols = {**base, "label": names[targets.astype(int)], "pred": names[outputs.argmax(axis=1)]}
        cols.update({f"p_{lab}": outputs[:, i] for i, lab in enumerate(labels)})
        return pd.DataFrame(cols)
    cols = dict(base)
    for i, dim in enumerate(labels):
        cols[f"true_{dim}"] = targets[:, i]
        cols[f"pred_{dim}"] = outputs[:, i]
    return pd.DataFrame(cols)


def fold_metrics(frame: pd.DataFrame, task: str, labels: list[str]) -> dict[str, float]:
    """``accuracy``/``uar``/``av_auc`` (classes) or ``ccc`` per dimension (avd) of one predictions frame."""
    from emofuse.evaluate.metrics import classification_metrics, regression_metrics

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "classes":
            proba = frame[[f"p_{lab}" for lab in labels]].to_numpy(dtype=np.float64)
            return classification_metrics(
                frame["label"].to_numpy(), proba, labels, y_pred=frame["pred"].to_numpy()
            )
        true = frame[[f"true_{d}" for d in labels]].to_numpy(dtype=np.float64)
        pred = frame[[f"pred_{d}" for d in labels]].to_numpy(dtype=np.float64)
        return regression_metrics(true, pred, labels)


def tune_score_weights(
    probs_by_branch: Mapping[str, Any], y_dev: Sequence[int] | np.ndarray, grid: Sequence[float] | None = None
) -> dict[str, float]:
    """Pick score-fusion weights that maximise dev ``uar`` (makiuchi2021 Eq. 4 with tuned weights).

    ``probs_by_branch[name]: [N, C]`` class probabilities of each branch on the dev set (numpy arrays or
    tensors), ``y_dev: [N]`` class indices. The weights lie on the simplex: every combination of ``grid``
    values (default 0, 0.1, ..., 1) for the first K - 1 branches whose sum is at most 1, the last branch
    getting the rest (two branches: ``w1`` in the grid, ``w2 = 1 - w1``). Ties go to the weights closest to
    equal weighting. ``uar`` is :func:`emofuse.evaluate.metrics.uar` (classes absent from ``y_dev`` left out).
    Returns ``{name: w}`` (sum 1), ready for :meth:`emofuse.nn.FusionModel.set_score_weights`.
    """
    from emofuse.evaluate.metrics import uar

    names = list(probs_by_branch)
    if not names:
        raise ValueError("tune_score_weights needs the dev probabilities of at least one branch")
    probs = np.stack([np.asarray(probs_by_branch[n], dtype=np.float64) for n in names])  # [K, N, C]
    y = np.asarray(y_dev).astype(np.int64).ravel()
    if probs.ndim != 3 or probs.shape[1] != y.size:
        raise ValueError(
            f"each branch needs [N, C] probabilities for N = {y.size} dev labels; got {tuple(probs.shape[1:])}"
        )
    values = [float(v) for v in (grid if grid is not None else np.linspace(0, 1, 11))]
    uniform = np.full(len(names), 1.0 / len(names))
    classes = list(range(probs.shape[2]))
    best: tuple[float, float, np.ndarray] | None = None  # (uar, -distance to uniform, weights)
    for combo in itertools.product(values, repeat=len(names) - 1):
        rest = 1.0 - sum(combo)
        if rest < -1e-9 or any(v < 0 for v in combo):
            continue
        w = np.asarray([*combo, max(rest, 0.0)])
        fused = np.tensordot(w, probs, axes=1)  # [N, C]
        with warnings.catch_warnings():  # classes absent from the dev labels are left out of the mean
            warnings.simplefilter("ignore")
            score = uar(y, fused.argmax(axis=1), classes)
        candidate = (score, -float(np.linalg.norm(w - uniform)), w)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise ValueError(f"grid {values} has no non-negative, non-zero weights")
    return {n: float(v) for n, v in zip(names, best[2].tolist(), strict=True)}


def tune_score_weights_on_dev(
    model: Any, dev: EmotionDataset | None, batch_size: int, seed: int, system: str, fold: str
) -> dict[str, float]:
    """Set ``model``'s score-fusion weights to those that maximise dev ``uar`` (makiuchi2021 Eq. 4)."""
    import torch

    if dev is None or len(dev) == 0:
        raise ConfigError(
            f"{system}, {fold}: training.score_weights is tune_dev but the fold has no dev utterances; "
            "give the protocol a dev_fraction > 0 or use score_weights: fixed"
        )
    model.eval()
    probs: dict[str, list[Any]] = {n: [] for n in model.branch_names}
    targets = []
    with torch.no_grad():
        for batch in loader(dev, batch_size, seed):
            out = model(batch["inputs"], batch["masks"])["branch_outputs"]
            for n in model.branch_names:
                probs[n].append(torch.softmax(out[n], dim=-1))
            targets.append(batch["targets"])
    weights = tune_score_weights(
        {n: torch.cat(p).numpy() for n, p in probs.items()}, torch.cat(targets).numpy()
    )
    model.set_score_weights(weights)
    return weights


__all__ = ["fold_metrics", "loader", "predictions_frame", "tune_score_weights", "tune_score_weights_on_dev"]
