"""An honest choice of the model to ship: the system by development score, the weights retrained on all data.

Picking "the best system's best run" by its own test fold's score is optimistic by construction. Instead:

1. **System**: the one with the highest mean DEV score (``metrics.json``'s ``dev`` block, the training speakers'
   held-out part of every fold) over all its runs. When the runs have no dev sets (``dev_fraction: 0``) the
   system with the highest cross-validated score (test predictions pooled over folds, mean over seeds) is
   chosen, and the selection says so: that figure then slightly overstates the chosen system.
2. **Weights**: the chosen recipe retrained once on every labelled utterance of the table (dev carved by
   speaker with the recipe's ``protocol.dev_fraction`` when it stops early on dev), seed 0, in
   ``<runs>/_final/``. No test fold picks anything; the expected score of the model is the system's
   cross-validated one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.errors import ConfigError
from emofuse.io import read_json
from emofuse.recipes.schema import Recipe

FINAL_DIR = "_final"


@dataclass
class Selection:
    """Which system was chosen, by what (``by``), and every system's score under that criterion."""

    system: str
    by: str
    metric: str
    scores: dict[str, float]
    cv_scores: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "by": self.by,
            "metric": self.metric,
            "scores": self.scores,
            "cv_scores": self.cv_scores,
        }


def _run_dirs(runs_dir: Path, system: str) -> list[Path]:
    return sorted(p.parent for p in (runs_dir / system).glob("seed*/fold*/done.json"))


def choose_system(runs_dir: str | Path, systems: Sequence[str], metric: str = "uar") -> Selection:
    """Choose among ``systems`` (finished runs under ``runs_dir``) by mean dev ``metric`` (see module doc).

    Ties go to the earlier system in ``systems``.
    """
    root = Path(runs_dir)
    dev: dict[str, list[float]] = {}
    cv: dict[str, float] = {}
    for system in systems:
        runs = _run_dirs(root, system)
        if not runs:
            raise ConfigError(f"no finished runs of system {system!r} under {root}; run it first")
        dev[system] = [
            float(m["dev"][metric])
            for m in (read_json(r / "metrics.json") for r in runs)
            if isinstance(m.get("dev"), dict) and metric in m["dev"]
        ]
        cv[system] = _cv_score(runs, metric)
    if all(dev[s] for s in systems):
        scores = {s: round(sum(v) / len(v), 4) for s, v in dev.items()}
        by = f"mean dev {metric} over every seed and fold (dev = held-out training speakers)"
    else:
        scores = dict(cv)
        by = (
            f"cross-validated {metric} (test predictions pooled over folds, mean over seeds): the runs have no "
            "dev sets, so this figure slightly overstates the chosen system"
        )
    best = max(systems, key=lambda s: (scores[s], -list(systems).index(s)))
    return Selection(best, by, metric, scores, cv)


def _cv_score(runs: list[Path], metric: str) -> float:
    from emofuse.evaluate.metrics import classification_metrics

    frame = pd.concat(
        [pd.read_csv(r / "predictions.csv", dtype={"utterance_id": str, "fold": str}) for r in runs],
        ignore_index=True,
    )
    if "pred" not in frame.columns:  # A/V/D runs: the mean of the runs' test metric
        values = [read_json(r / "metrics.json")["test"].get(metric) for r in runs]
        kept = [float(v) for v in values if v is not None]
        return round(sum(kept) / len(kept), 4) if kept else float("nan")
    labels = [c[2:] for c in frame.columns if c.startswith("p_")]
    per_seed = []
    for _, part in frame.groupby("seed"):
        m = classification_metrics(
            part["label"].to_numpy(),
            part[[f"p_{c}" for c in labels]].to_numpy(),
            labels,
            y_pred=part["pred"].to_numpy(),
        )
        per_seed.append(float(m[metric]))
    return round(sum(per_seed) / len(per_seed), 4)


def refit_on_all(
    recipe: Recipe,
    table: pd.DataFrame,
    store: Any,
    runs_dir: str | Path,
    *,
    sources: Sequence[Recipe] = (),
    seed: int = 0,
    transcripts: pd.DataFrame | None = None,
    encoder_ids: Any = None,
    torch_threads: int | None = None,
) -> Path:
    """Retrain ``recipe`` on every labelled utterance of ``table``; returns the run directory (resumable).

    ``sources``: the single-modality systems a pre-trained / warm-start recipe starts from
    (``training.pretrain.from_systems``); they are retrained on the same data first.

    Dev (for early stopping, or the SVM's C) is carved by speaker with the recipe's ``protocol.dev_fraction``
    when the recipe uses one; the run's ``predictions.csv`` then holds the dev predictions (else the training
    predictions), which are NOT an evaluation.
    """
    from emofuse.corpus.protocols import Fold, carve_dev
    from emofuse.train.data import encode_targets
    from emofuse.train.runner import run_dir_for, run_experiment

    d = recipe.data
    targets = encode_targets(table, d.task, d.labels, d.label_map, d.avd_names)
    labelled = table[table["utterance_id"].isin(set(targets))]
    wants_dev = recipe.training.early_stopping is not None or recipe.estimator is not None
    if wants_dev and recipe.protocol.dev_fraction > 0:
        train, dev = carve_dev(labelled, recipe.protocol.dev_fraction, recipe.protocol.seed)
    else:
        train, dev = labelled["utterance_id"].tolist(), []
    fold = Fold("all", train=tuple(train), dev=tuple(dev), test=tuple(dev or train))
    out = Path(runs_dir) / FINAL_DIR
    run_experiment(
        [*sources, recipe],
        table,
        [fold],
        store,
        out,
        seeds=[seed],
        transcripts=transcripts,
        encoder_ids=encoder_ids,
        progress=False,
        report=False,
        torch_threads=torch_threads,
    )
    return run_dir_for(out, recipe.name, seed, 0)


def model_card(selection: Selection, run_dir: Path, n_train: int, n_dev: int) -> str:
    """How the package's model was chosen (a section of its model card, README.md): what, how, on what data."""
    lines = [
        f"# emofuse model: {selection.system}",
        "",
        f"* **System chosen by** {selection.by}.",
        "* **Weights**: the chosen configuration retrained once on all labelled utterances of the corpus "
        f"({n_train} for training, {n_dev} held out by speaker for early stopping / hyperparameters), seed 0 "
        f"(run `{FINAL_DIR}/{selection.system}/{run_dir.parent.name}/{run_dir.name}`). No test fold chose the "
        "system or the weights.",
        f"* **Expected score**: the system's cross-validated {selection.metric} "
        f"{selection.cv_scores.get(selection.system, float('nan')):.3f} (test predictions pooled over folds, "
        "mean over seeds).",
        "",
        f"| system | selection score ({selection.metric}) | cross-validated {selection.metric} |",
        "| --- | ---: | ---: |",
    ]
    for system, score in selection.scores.items():
        mark = " (chosen)" if system == selection.system else ""
        lines.append(
            f"| {system}{mark} | {score:.3f} | {selection.cv_scores.get(system, float('nan')):.3f} |"
        )
    return "\n".join(lines) + "\n"


__all__ = ["FINAL_DIR", "Selection", "choose_system", "model_card", "refit_on_all"]
