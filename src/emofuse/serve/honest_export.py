"""Export the model to ship without letting a test fold choose it (see :mod:`emofuse.train.selection`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.io import atomic_write_json, read_json
from emofuse.recipes.schema import Recipe
from emofuse.serve.model_card import CARD_FILE, as_section, write_model_card
from emofuse.train.selection import Selection, choose_system, model_card, refit_on_all

MODEL_CARD = CARD_FILE  # README.md: the one model card of a package (emofuse.serve.model_card)
SELECTION_FILE = "selection.json"


def export_chosen(
    recipes: Sequence[Recipe],
    table: pd.DataFrame,
    store: Any,
    runs_dir: str | Path,
    out_dir: str | Path,
    *,
    transcripts: pd.DataFrame | None = None,
    encoder_ids: Any = None,
    torch_threads: int | None = None,
) -> tuple[Path, Selection]:
    """Choose the system by dev score, retrain it on all data, package it with a model card.

    Returns ``(package directory, selection)``. The package holds ``selection.json`` and its model card ``README.md`` says how it was chosen
    next to the model files.
    """
    from emofuse.serve.package import export_from_run

    selection = choose_system(runs_dir, [r.name for r in recipes])
    recipe = next(r for r in recipes if r.name == selection.system)
    pre = recipe.training.pretrain
    wanted = (
        set(pre.from_systems.values())
        if pre is not None and recipe.training.strategy != "cold_start"
        else set()
    )
    run_dir = refit_on_all(
        recipe,
        table,
        store,
        runs_dir,
        sources=[r for r in recipes if r.name in wanted and r.name != recipe.name],
        transcripts=transcripts,
        encoder_ids=encoder_ids,
        torch_threads=torch_threads,
    )
    out = export_from_run(run_dir, out_dir)
    metrics = read_json(run_dir / "metrics.json")
    n_train, n_dev = int(metrics.get("n_train", 0)), int(metrics.get("n_dev", 0))
    section = as_section(model_card(selection, run_dir, n_train, n_dev), "How this model was chosen")
    write_model_card(out, run_dir=run_dir, sections=[section])
    atomic_write_json(
        out / SELECTION_FILE,
        {
            **selection.to_dict(),
            "weights": "retrained on all labelled utterances",
            "n_train": n_train,
            "n_dev": n_dev,
        },
    )
    return Path(out), selection


__all__ = ["MODEL_CARD", "SELECTION_FILE", "export_chosen"]
