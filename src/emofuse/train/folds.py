"""Folds for a run: from a split file or fold list, or made from the recipe's protocol block.

A protocol the table cannot honour (speaker+script folds on a table without scripts) is an error, or with
``accept_weaker_protocol`` its weaker fallback, and the report's protocol line says which ran.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.corpus.protocols import REQUIRED_COLUMNS, Fold, make_folds, read_splits
from emofuse.errors import ConfigError, CorpusError
from emofuse.recipes.schema import Recipe
from emofuse.train.targets import labelled_ids

#: The weaker protocol ``accept_weaker_protocol`` falls back to when the table cannot honour the recipe's.
WEAKER_PROTOCOL: dict[str, str] = {
    "speaker-script": "speaker-kfold",
    "loso": "speaker-kfold",
    "predefined": "speaker-kfold",
}
#: Columns loso / predefined check inside their own fold functions (the others: ``protocols.REQUIRED_COLUMNS``).
_OWN_COLUMNS: dict[str, tuple[str, ...]] = {"loso": ("session",), "predefined": ("split",)}


def _missing_column(table: pd.DataFrame, kind: str) -> str | None:
    for column in (*REQUIRED_COLUMNS.get(kind, ()), *_OWN_COLUMNS.get(kind, ())):
        if column not in table.columns or table[column].isna().all():
            return column
    return None


def protocol_to_run(
    table: pd.DataFrame, recipe: Recipe, accept_weaker: bool = False
) -> tuple[str, str | None]:
    """``(protocol kind that will run, note)``: the recipe's protocol, or with ``accept_weaker`` its weaker fallback.

    A protocol whose column is empty in every row cannot be honoured: pepino2020's speaker+script folds on a
    table without scripts would silently be plain speaker folds.

    Raises:
        ConfigError: the protocol cannot be honoured and ``accept_weaker`` is False (the message names the
            column, the fallback and the switch that accepts it).
    """
    kind = recipe.protocol.kind
    column = _missing_column(table, kind)
    if column is None or kind not in WEAKER_PROTOCOL:
        return kind, None  # (a column the fallback needs too is make_folds' error to name)
    weaker = WEAKER_PROTOCOL[kind]
    why = f"protocol {kind} needs the {column!r} column, and the table has no {column} in any row"
    if not accept_weaker:
        raise ConfigError(
            f"{recipe.name}: {why}; add the column, choose another protocol (--protocol / --splits), or accept the "
            f"weaker {weaker} folds with --accept-weaker-protocol (the report then says so)"
        )
    return weaker, f"{why}: ran {weaker} instead (accepted with --accept-weaker-protocol)"


def folds_for(
    folds: Any, table: pd.DataFrame, recipe: Recipe, accept_weaker_protocol: bool = False
) -> list[Fold]:
    """Folds from a list of :class:`Fold`, a ``SplitFile``, a split file path, or (None) ``recipe.protocol``.

    ``random-kfold`` splits only the utterances that have a target under ``recipe``. A protocol the table cannot
    honour is an error, or with ``accept_weaker_protocol`` its weaker fallback (:func:`protocol_to_run`).
    """
    if folds is None:
        p = recipe.protocol
        kind, _ = protocol_to_run(table, recipe, accept_weaker_protocol)
        if kind != p.kind:
            p = p.model_copy(update={"kind": kind})
        source = table
        if p.kind == "random-kfold":
            source = table[table["utterance_id"].astype(str).isin(set(labelled_ids(recipe, table)))]
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            try:
                return make_folds(
                    source,
                    p.kind,
                    n_folds=p.k or 5,
                    seed=p.seed,
                    dev_fraction=p.dev_fraction,
                    test_scripts=p.test_scripts,
                    test_split=p.test_split,
                    check=True,
                    strict=p.strict_leaks,
                )
            except CorpusError as exc:  # name the switch of `emofuse run`, not `corpus split`'s --strict
                if "drop --strict" not in str(exc):
                    raise
                name = recipe.protocol_name
                switch = (
                    f"--set protocols.{name}.strict_leaks=false" if name else "protocol.strict_leaks: false"
                )
                raise CorpusError(
                    str(exc).replace("drop --strict to only warn", f"pass {switch} to only warn")
                ) from None
    if isinstance(folds, str | Path):
        return list(read_splits(folds).folds)
    out = list(folds.folds) if hasattr(folds, "folds") else list(folds)
    if not all(isinstance(f, Fold) for f in out):
        raise ConfigError("folds must be Fold objects, a SplitFile or the path of a split file")
    return out


def checked_folds(
    folds: Any, table: pd.DataFrame, recipe: Recipe, accept_weaker_protocol: bool = False
) -> list[Fold]:
    """:func:`folds_for`, checked to be non-empty and to name only utterances of ``table``."""
    fold_list = folds_for(folds, table, recipe, accept_weaker_protocol)
    if not fold_list:
        raise ConfigError("no folds to run")
    known = set(table["utterance_id"])
    for f in fold_list:
        unknown = [u for u in (*f.train, *f.dev, *f.test) if u not in known]
        if unknown:
            raise ConfigError(
                f"fold {f.name!r} names {len(unknown)} utterance(s) that the corpus table lacks "
                f"(e.g. {unknown[:5]}); the split file does not belong to this table"
            )
    return fold_list


def protocol_note(
    folds: Any, table: pd.DataFrame, recipe: Recipe, fold_list: Sequence[Fold], accept_weaker: bool
) -> str:
    """One line for the report: which protocol actually ran, over which folds."""
    names = ", ".join(f.name for f in fold_list)
    if folds is not None:
        what = "the folds given (split file or fold list)"
    else:
        kind, note = protocol_to_run(table, recipe, accept_weaker)
        what = f"{kind}" + (f" (the recipe asks for {recipe.protocol.kind}: {note})" if note else "")
    return f"Protocol: {what}; {len(fold_list)} fold(s): {names}."


__all__ = ["WEAKER_PROTOCOL", "checked_folds", "folds_for", "protocol_note", "protocol_to_run"]
