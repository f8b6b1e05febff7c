"""Folds as users bring them: leave one speaker out, a fold column of the table, or a fold-list file.

Protocol names (``emofuse corpus split --protocol ...``, ``emofuse run --protocol ...``):

``leave-one-speaker-out``
    one fold per speaker (natural order): test = that speaker, train = the others (EmoDB's usual protocol).
    Every utterance needs a speaker.
``column:<name>``
    the table's column ``<name>`` holds each utterance's TEST fold id (as EmoBox's ``fold`` / a corpus's
    session column): fold ``v`` tests the rows whose value is ``v`` and trains on the rows with another value;
    rows without a value are in no fold (``excluded``).
``file:<path>``
    a fold-list file: an emofuse split file (``"format": "emofuse.splits"``), a JSON object
    ``{fold name: [utterance ids tested in that fold]}``, or a CSV/TSV with an id column (``utterance_id``,
    ``id``, ``file``, ``path`` or ``audio_path``; paths match by file stem) and a test-fold column (``fold``,
    ``test_fold``, ``emobox_test_fold`` or ``fold_id``).

Dev sets are carved from each fold's training speakers as for the other protocols (``dev_fraction``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from emofuse.corpus.protocols import Fold, _fold_from_masks, _natural_key, read_splits
from emofuse.errors import ConfigError, CorpusError

LOSO_SPEAKER = "leave-one-speaker-out"
LOSO_SPEAKER_ALIASES: frozenset[str] = frozenset({LOSO_SPEAKER, "loso-speaker", "lospo"})
ID_COLUMNS: tuple[str, ...] = ("utterance_id", "id", "file", "path", "audio_path")
FOLD_COLUMNS: tuple[str, ...] = ("fold", "test_fold", "emobox_test_fold", "fold_id")


def is_given_protocol(protocol: str) -> bool:
    """True for the protocols of this module (``leave-one-speaker-out``, ``column:...``, ``file:...``)."""
    p = protocol.strip()
    return p.lower() in LOSO_SPEAKER_ALIASES or p.startswith(("column:", "file:"))


def leave_one_speaker_out(table: pd.DataFrame, *, seed: int = 0, dev_fraction: float = 0.1) -> list[Fold]:
    """One fold per speaker: test = that speaker's utterances, train (and dev) = everyone else's."""
    missing = table.loc[table["speaker"].isna(), "utterance_id"].tolist()
    if missing:
        raise CorpusError(
            f"leave-one-speaker-out needs a speaker for every utterance; {len(missing)} have none "
            f"(e.g. {missing[:5]}); use speaker-kfold or give the speakers"
        )
    speakers = sorted(set(table["speaker"]), key=_natural_key)
    if len(speakers) < 2:
        raise CorpusError(f"leave-one-speaker-out needs at least two speakers; the table has {speakers}")
    folds = []
    for speaker in speakers:
        test = (table["speaker"] == speaker).to_numpy()
        folds.append(_fold_from_masks(table, str(speaker), ~test, test, dev_fraction, seed, [speaker]))
    return folds


def folds_from_assignment(
    table: pd.DataFrame,
    assignment: Mapping[str, str],
    *,
    seed: int = 0,
    dev_fraction: float = 0.1,
    where: str = "fold assignment",
) -> list[Fold]:
    """Folds from ``{utterance_id: test fold id}``; utterances without an id are in no fold."""
    ids = table["utterance_id"].tolist()
    values = np.array([assignment.get(u) for u in ids], dtype=object)
    assigned = np.array([v is not None for v in values])
    if not assigned.any():
        raise CorpusError(
            f"{where}: no utterance of the table has a fold id; check that the ids match the table's "
            f"utterance_id (e.g. {ids[:3]})"
        )
    names = sorted({str(v) for v in values[assigned]}, key=_natural_key)
    if len(names) < 2:
        raise CorpusError(f"{where}: needs at least two fold ids, found {names}")
    folds = []
    for name in names:
        test = np.array([v is not None and str(v) == name for v in values])
        train = assigned & ~test
        groups = sorted({s for s in table.loc[test, "speaker"].dropna()}, key=_natural_key)
        folds.append(
            _fold_from_masks(
                table, f"fold{name}" if name.isdigit() else name, train, test, dev_fraction, seed, groups
            )
        )
    return folds


def column_folds(table: pd.DataFrame, column: str, *, seed: int = 0, dev_fraction: float = 0.1) -> list[Fold]:
    """Folds from the table's column ``column`` (each row's test fold id)."""
    if column not in table.columns:
        raise ConfigError(
            f"--protocol column:{column}: the table has no column {column!r}; its columns are "
            f"{list(table.columns)} (or give the folds as a file with --protocol file:<path>)"
        )
    assignment = {
        str(u): _fold_id(v)
        for u, v in zip(table["utterance_id"], table[column], strict=True)
        if v is not None and not (isinstance(v, float) and np.isnan(v))
    }
    return folds_from_assignment(
        table, assignment, seed=seed, dev_fraction=dev_fraction, where=f"column {column!r}"
    )


def _fold_id(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_fold_list(path: str | Path) -> dict[str, str] | list[Fold]:
    """Read a fold-list file: ``{id: fold}`` (CSV/TSV/JSON mapping), or the folds of an emofuse split file.

    Ids that look like paths are reduced to their file stem, so ``audio/03a01Wa.wav`` matches ``03a01Wa``.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"fold-list file not found: {p}; give --protocol file:<path of a CSV or JSON file>")
    if p.suffix.lower() == ".json":
        try:
            obj = json.loads(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CorpusError(f"fold-list file {p} is not valid JSON ({exc})") from None
        if isinstance(obj, dict) and "format" in obj:
            return list(read_splits(p).folds)
        if not isinstance(obj, dict) or not all(isinstance(v, list) for v in obj.values()):
            raise CorpusError(
                f'{p}: a JSON fold list maps fold names to lists of utterance ids, e.g. {{"1": ["a", "b"]}}'
            )
        return {_stem(str(u)): str(name) for name, us in obj.items() for u in us}
    text = p.read_text(encoding="utf-8-sig")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ",", delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.DictReader(text.splitlines(), dialect=dialect))
    header = [h.strip() for h in (rows[0].keys() if rows else [])]
    id_col = next((c for c in ID_COLUMNS if c in header), None)
    fold_col = next((c for c in FOLD_COLUMNS if c in header), None)
    if id_col is None or fold_col is None:
        raise CorpusError(
            f"{p}: a fold list needs an id column ({', '.join(ID_COLUMNS)}) and a fold column "
            f"({', '.join(FOLD_COLUMNS)}); its header is {header}"
        )
    return {
        _stem(r[id_col].strip()): _fold_id(r[fold_col])
        for r in rows
        if r.get(id_col) and r.get(fold_col) not in (None, "")
    }


def _stem(value: str) -> str:
    return Path(value).stem if ("/" in value or "\\" in value or "." in Path(value).name) else value


def file_folds(
    table: pd.DataFrame, path: str | Path, *, seed: int = 0, dev_fraction: float = 0.1
) -> list[Fold]:
    """Folds from a fold-list file (see :func:`read_fold_list`)."""
    got = read_fold_list(path)
    if isinstance(got, list):
        return got
    return folds_from_assignment(table, got, seed=seed, dev_fraction=dev_fraction, where=str(path))


def given_folds(
    table: pd.DataFrame, protocol: str, *, seed: int = 0, dev_fraction: float = 0.1
) -> list[Fold]:
    """Folds of one of this module's protocols (see the module docstring)."""
    p = protocol.strip()
    if p.lower() in LOSO_SPEAKER_ALIASES:
        return leave_one_speaker_out(table, seed=seed, dev_fraction=dev_fraction)
    kind, _, arg = p.partition(":")
    if not arg.strip():
        raise ConfigError(
            f"--protocol {p}: name the {'column' if kind == 'column' else 'file'} after the colon"
        )
    if kind == "column":
        return column_folds(table, arg.strip(), seed=seed, dev_fraction=dev_fraction)
    if kind == "file":
        return file_folds(table, arg.strip(), seed=seed, dev_fraction=dev_fraction)
    raise ConfigError(f"unknown protocol {protocol!r}")


__all__ = [
    "LOSO_SPEAKER",
    "column_folds",
    "file_folds",
    "folds_from_assignment",
    "given_folds",
    "is_given_protocol",
    "leave_one_speaker_out",
    "read_fold_list",
]
