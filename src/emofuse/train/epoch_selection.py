"""pepino2020's epoch choice: the fixed epoch count of each system, chosen on development data over seeds.

pepino2020 (Sec. 3): "the number of epochs for training each model was selected by optimizing the median AvAUC
value on IEMOCAP over 5 seeds". A recipe asks for it with ``training.epoch_selection`` (``metric``, ``seeds``,
``statistic``; :class:`emofuse.recipes.schema.EpochSelectionConfig`). Before the final runs, each such system
trains ``training.max_epochs`` epochs for each of its first ``seeds`` seeds on every fold, into
``<out>/epoch_selection/<system>/seed<k>/fold<f>/`` (ordinary, resumable run directories). After every epoch the
run measured ``dev_<metric>`` on the fold's **development** part (carved from the training speakers; the test
part is never looked at). Per seed the curve is averaged over the folds, the seeds' curves are summarised by the
statistic (median), and the epoch count with the best value (the smallest count on ties) becomes
``training.max_epochs`` of the system's final runs. The choice is written to
``<out>/epoch_selection/<system>/chosen.json`` and each final run's ``recipe.json`` records the chosen count
beside the ``epoch_selection`` block; the report lists the counts.

Pre-trained systems (``pretrained`` / ``warm_start`` / ``finetune``) choose over selection runs that start from
the selection runs of their single-modality sources (trained ``max_epochs`` epochs, not the sources' chosen
count): the final runs always start from the final source runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.corpus.protocols import Fold
from emofuse.errors import ConfigError
from emofuse.io import atomic_write_json, read_json
from emofuse.recipes.schema import Recipe
from emofuse.train.rundir import RunDir

#: sub-folder of the runner's output holding the selection runs (one level deeper than the final runs, so the
#: report, ``emofuse export`` and ``explain`` never take them for systems)
SELECTION_DIR = "epoch_selection"

MakeSpec = Callable[[Recipe, int, int, Fold, Path], Any]
TrainSpecs = Callable[[list[Any]], list[dict[str, Any]]]


@dataclass(frozen=True)
class EpochChoice:
    """One system's choice: ``curve[e]`` is the statistic over seeds of the fold-averaged dev metric after
    ``e + 1`` epochs ``[max_epochs]``; ``per_seed[s][e]`` the fold average of seed ``seeds[s]``."""

    system: str
    metric: str
    statistic: str
    seeds: list[int]
    curve: list[float]
    per_seed: list[list[float]]
    chosen_epochs: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "metric": self.metric,
            "statistic": self.statistic,
            "seeds": self.seeds,
            "max_epochs": len(self.curve),
            "chosen_epochs": self.chosen_epochs,
            "curve": self.curve,
            "per_seed": self.per_seed,
            "data": "development part of every fold (never the test part)",
        }

    def note(self) -> str:
        return (
            f"{self.system}: {self.chosen_epochs} of {len(self.curve)} epochs ({self.statistic} dev {self.metric} "
            f"{self.curve[self.chosen_epochs - 1]:.3f} over {len(self.seeds)} seeds)"
        )


def dev_curve(history: Sequence[dict[str, float]], metric: str, max_epochs: int, where: str) -> np.ndarray:
    """``[max_epochs]`` dev ``metric`` after each epoch from a run's ``metrics.json`` ``history``.

    Raises:
        ConfigError: an epoch has no dev value (the fold has no development part).
    """
    key = f"dev_{metric}"
    by_epoch = {int(r["epoch"]): float(r[key]) for r in history if key in r}
    missing = [e + 1 for e in range(max_epochs) if e not in by_epoch]
    if missing:
        raise ConfigError(
            f"{where}: no {key} after epoch(s) {missing[:5]}; training.epoch_selection needs a development part "
            "in every fold (set the protocol's dev_fraction > 0 or give folds with dev ids)"
        )
    return np.array([by_epoch[e] for e in range(max_epochs)], dtype=np.float64)


def choose_epoch(per_seed: np.ndarray, statistic: str, metric: str) -> tuple[np.ndarray, int]:
    """``(curve [E], chosen epoch count)`` from per-seed curves ``[S, E]``: the statistic over seeds per epoch,
    the best count (lowest for ``loss``, else highest), the smallest count on ties."""
    curve = np.median(per_seed, axis=0) if statistic == "median" else per_seed.mean(axis=0)
    best = curve.min() if metric == "loss" else curve.max()
    return curve, int(np.flatnonzero(np.isclose(curve, best, rtol=0.0, atol=1e-12))[0]) + 1


def selection_seeds(recipe: Recipe) -> list[int]:
    """The ``epoch_selection.seeds`` seeds: the first of the recipe's own seeds (more counted from 0 when it has
    fewer), so the final runs include them, as pepino2020's 10 seeds include its 5."""
    sel = recipe.training.epoch_selection
    n = sel.seeds if sel is not None else 0
    seeds = recipe.training.seed_list()[:n]
    extra = (s for s in range(n + len(seeds)) if s not in seeds)
    return seeds + [next(extra) for _ in range(n - len(seeds))]


def selection_recipe(recipe: Recipe) -> Recipe:
    """The recipe of a selection run: the same system without the selection block, ``max_epochs`` long."""
    training = recipe.training.model_copy(update={"epoch_selection": None})
    return recipe.model_copy(update={"training": training})


def _check_folds(recipe: Recipe, folds: Sequence[Fold]) -> None:
    empty = [f.name for f in folds if not f.dev]
    if empty:
        raise ConfigError(
            f"{recipe.name}: training.epoch_selection chooses on development data, but fold(s) {empty} have no "
            "dev part; set the protocol's dev_fraction > 0 (e.g. --set protocol.dev_fraction=0.1) or give a "
            "split file with dev ids"
        )


def choose_epochs(
    recipes: Sequence[Recipe], folds: Sequence[Fold], out_dir: Path, make_spec: MakeSpec, train: TrainSpecs
) -> tuple[list[Recipe], list[str]]:
    """Run the selection of every recipe with ``training.epoch_selection``; return the recipes with the chosen
    ``max_epochs`` (others unchanged, same order) and one report line per choice.

    ``make_spec(recipe, seed, fold_index, fold, out_dir)`` builds a :class:`emofuse.train.steps.RunSpec`;
    ``train(specs)`` runs them (the runner's scheduler: finished selection runs are skipped on a rerun).
    """
    chosen = [r for r in recipes if r.training.epoch_selection is not None]
    if not chosen:
        return list(recipes), []
    for r in chosen:
        _check_folds(r, folds)
    sel_dir = out_dir / SELECTION_DIR
    specs = [
        make_spec(selection_recipe(r), seed, i, f, sel_dir)
        for r in chosen
        for seed in selection_seeds(r)
        for i, f in enumerate(folds)
    ]
    train(specs)
    choices = {r.name: _choose(r, len(folds), sel_dir) for r in chosen}
    updated = []
    for r in recipes:
        c = choices.get(r.name)
        if c is not None:
            r = r.model_copy(
                update={"training": r.training.model_copy(update={"max_epochs": c.chosen_epochs})}
            )
        updated.append(r)
    prefix = "Epochs chosen on development folds"
    return updated, [f"{prefix}: {'; '.join(c.note() for c in choices.values())}."]


def _choose(recipe: Recipe, n_folds: int, sel_dir: Path) -> EpochChoice:
    sel = recipe.training.epoch_selection
    assert sel is not None
    seeds = selection_seeds(recipe)
    max_epochs = recipe.training.max_epochs
    per_seed = []
    for seed in seeds:
        curves = []
        for i in range(n_folds):
            run = RunDir.of(sel_dir, recipe.name, seed, i)
            history = read_json(run.metrics_path).get("history", [])
            curves.append(dev_curve(history, sel.metric, max_epochs, str(run.metrics_path)))
        per_seed.append(np.mean(curves, axis=0))
    curve, count = choose_epoch(np.stack(per_seed), sel.statistic, sel.metric)
    choice = EpochChoice(
        recipe.name, sel.metric, sel.statistic, seeds, curve.tolist(), np.stack(per_seed).tolist(), count
    )
    atomic_write_json(sel_dir / recipe.name / "chosen.json", choice.to_dict())
    return choice


__all__ = [
    "SELECTION_DIR",
    "EpochChoice",
    "choose_epoch",
    "choose_epochs",
    "dev_curve",
    "selection_recipe",
    "selection_seeds",
]
