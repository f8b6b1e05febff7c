"""Evaluation protocols: which utterances train, stop early (dev) and test in each fold.

Protocols (all deterministic for a seed):

``predefined``
    the corpus's own split column (MSP-Podcast: train / dev / test1 ...): one fold. Without a dev split, dev
    is carved from the training speakers.
``speaker-kfold``
    k folds grouped by speaker (sklearn ``StratifiedGroupKFold``: stratified by label as far as the speaker
    groups allow). Unknown speakers (None) are each their own group, never merged.
``loso``
    leave one session out (IEMOCAP: 5 folds, each testing the two speakers of one session).
``speaker-script``
    pepino2020 section 4.1 ("SP&SC"): the folds are the by-speaker folds (one per session when every
    utterance has a session, as for IEMOCAP, so each fold tests the two speakers of one session; otherwise
    k speaker-grouped folds), but only the test scripts (by default the last script family, IEMOCAP
    ``script03``) are used for testing while all other scripts are used in training. So the test side is
    the test speakers' unscripted (improvised) utterances plus their test-script utterances; the train side
    is the other speakers' unscripted utterances plus their utterances of the other scripts. Utterances of
    the test speakers from training scripts and of other speakers from test scripts are in neither (the
    paper notes "this last option includes less data for each fold"): test speakers are never in train,
    and no dialogue of a test script is ever in train.
``random-kfold``
    k folds over utterances, not speakers (kumar2021's "80%-20%" + 5-fold): speaker-DEPENDENT and so
    optimistic; the leak checker warns (``strict=False``). Dev is a random part of each fold's training
    utterances.

Protocols are a registry (:data:`PROTOCOL_REGISTRY`, name -> implementation); :func:`make_folds` looks the name
up there. Every other fold carves its dev set from its training speakers, by speaker group (``dev_fraction`` of them,
stratified where possible); dev is used for early stopping. Folds are written to and read from a JSON
split file (:func:`write_splits`, :func:`read_splits`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emofuse.corpus.leaks import check_leaks, script_family
from emofuse.errors import ConfigError, CorpusError
from emofuse.io import atomic_write_json, read_json

#: Columns a protocol cannot do without: a table where one of them is empty in every row cannot make that
#: protocol's folds (speaker-kfold without speakers would test on the training speakers and call it speaker-
#: independent). predefined and loso check their own columns (split, session) with their own messages.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "speaker-kfold": ("speaker",),
    "speaker-script": ("speaker", "script"),
    "leave-one-speaker-out": ("speaker",),
}
SPLIT_FORMAT = "emofuse.splits"
SPLIT_VERSION = 1


@dataclass(frozen=True)
class Fold:
    """One fold: utterance ids for training, early stopping (dev) and testing.

    Attributes:
        name: fold name ("fold1", "Session3", "test1", ...).
        train / dev / test: utterance ids (table order).
        test_groups: what the fold tests (speakers or sessions), for reports.
        excluded: ids in neither side by construction (speaker-script: the test speakers' training-script
            utterances and the other speakers' test-script utterances; predefined: rows of other splits).
    """

    name: str
    train: tuple[str, ...]
    dev: tuple[str, ...]
    test: tuple[str, ...]
    test_groups: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "test_groups": list(self.test_groups),
            "train": list(self.train),
            "dev": list(self.dev),
            "test": list(self.test),
            "excluded": list(self.excluded),
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any], where: str = "<dict>") -> Fold:
        try:
            return cls(
                name=str(obj["name"]),
                train=tuple(str(u) for u in obj["train"]),
                dev=tuple(str(u) for u in obj.get("dev", [])),
                test=tuple(str(u) for u in obj["test"]),
                test_groups=tuple(str(g) for g in obj.get("test_groups", [])),
                excluded=tuple(str(u) for u in obj.get("excluded", [])),
            )
        except (KeyError, TypeError) as exc:
            raise CorpusError(
                f"{where}: a fold lacks {exc} or is malformed; each fold needs name, train and test lists"
            ) from None


@dataclass
class SplitFile:
    """The content of a split file: the folds and how they were made."""

    protocol: str
    seed: int
    folds: list[Fold]
    corpus: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


def write_splits(path: str | Path, split: SplitFile) -> None:
    """Write a split file (JSON, atomically)."""
    atomic_write_json(
        path,
        {
            "format": SPLIT_FORMAT,
            "version": SPLIT_VERSION,
            "protocol": split.protocol,
            "seed": split.seed,
            "corpus": split.corpus,
            "options": split.options,
            "folds": [f.to_dict() for f in split.folds],
        },
        indent=1,
    )


def read_splits(path: str | Path) -> SplitFile:
    """Read a split file written by :func:`write_splits`; a malformed file is a clear CorpusError."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"split file not found: {p}; make one with `emofuse corpus split ... --out {p}`")
    try:
        obj = read_json(p)
    except ValueError as exc:
        raise CorpusError(f"split file {p} is not valid JSON ({exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != SPLIT_FORMAT:
        raise CorpusError(f'{p} is not an emofuse split file (no "format": "{SPLIT_FORMAT}")')
    if obj.get("version") != SPLIT_VERSION:
        raise CorpusError(
            f"{p}: split file version {obj.get('version')} is not supported (expected {SPLIT_VERSION})"
        )
    folds = [Fold.from_dict(f, where=str(p)) for f in obj.get("folds", [])]
    if not folds:
        raise CorpusError(f"split file {p} holds no folds")
    return SplitFile(
        protocol=str(obj.get("protocol")),
        seed=int(obj.get("seed", 0)),
        folds=folds,
        corpus=obj.get("corpus"),
        options=dict(obj.get("options") or {}),
    )


# ---------------------------------------------------------------------------------------------- helpers


def speaker_groups(table: pd.DataFrame) -> np.ndarray:
    """Group key per row: the speaker, or ``unknown:<utterance_id>`` when unknown (never merged)."""
    return np.array(
        [
            s if isinstance(s, str) else f"unknown:{u}"
            for s, u in zip(table["speaker"], table["utterance_id"], strict=True)
        ],
        dtype=object,
    )


def _strata(table: pd.DataFrame) -> np.ndarray:
    return np.array([lab if isinstance(lab, str) else "<none>" for lab in table["label"]], dtype=object)


def _group_kfold(table: pd.DataFrame, groups: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    """Row indices of the test part of each of ``n_folds`` folds, grouped and stratified by label."""
    from sklearn.model_selection import StratifiedGroupKFold

    n_groups = len(set(groups))
    if n_groups < n_folds:
        raise CorpusError(
            f"cannot make {n_folds} speaker-grouped folds from {n_groups} speaker group(s); use fewer folds"
        )
    strata = _strata(table)
    if max(pd.Series(strata).value_counts(), default=0) < n_folds:
        strata = np.zeros(len(table), dtype=int)  # too few of every label to stratify: group only
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        return [test for _, test in splitter.split(np.zeros(len(table)), strata, groups)]


def carve_dev(table: pd.DataFrame, dev_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Split training rows into (train_ids, dev_ids) by speaker group, about ``dev_fraction`` of the groups.

    With fewer than two speaker groups, or ``dev_fraction == 0``, dev is empty.
    """
    if not 0.0 <= dev_fraction < 1.0:
        raise ConfigError(f"dev_fraction must be in [0, 1), got {dev_fraction}")
    ids = table["utterance_id"].tolist()
    groups = speaker_groups(table)
    n_groups = len(set(groups))
    if dev_fraction == 0.0 or n_groups < 2:
        return ids, []
    n_splits = min(n_groups, max(2, round(1.0 / dev_fraction)))
    dev_rows = _group_kfold(table, groups, n_splits, seed)[0]
    dev_mask = np.zeros(len(table), dtype=bool)
    dev_mask[dev_rows] = True
    return [u for u, d in zip(ids, dev_mask, strict=True) if not d], [
        u for u, d in zip(ids, dev_mask, strict=True) if d
    ]


def _natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _fold_from_masks(
    table: pd.DataFrame,
    name: str,
    train_mask: np.ndarray,
    test_mask: np.ndarray,
    dev_fraction: float,
    seed: int,
    test_groups: Sequence[str],
    dev_mask: np.ndarray | None = None,
) -> Fold:
    ids = table["utterance_id"].to_numpy()
    if not test_mask.any():
        raise CorpusError(f"fold {name} has no test utterances")
    if not train_mask.any():
        raise CorpusError(f"fold {name} has no training utterances")
    if dev_mask is not None and dev_mask.any():
        train, dev = ids[train_mask].tolist(), ids[dev_mask].tolist()
    else:
        train, dev = carve_dev(table.loc[train_mask], dev_fraction, seed)
    used = train_mask | test_mask | (dev_mask if dev_mask is not None else False)
    return Fold(
        name=name,
        train=tuple(train),
        dev=tuple(dev),
        test=tuple(ids[test_mask].tolist()),
        test_groups=tuple(sorted(set(test_groups), key=_natural_key)),
        excluded=tuple(ids[~used].tolist()),
    )


# ---------------------------------------------------------------------------------------------- protocols


def predefined_split(
    table: pd.DataFrame, *, test_split: str | None = None, dev_fraction: float = 0.1, seed: int = 0
) -> list[Fold]:
    """One fold from the ``split`` column: train = "train", dev = "dev" (else carved), test = ``test_split``.

    ``test_split`` defaults to "test" if present, else the first split whose name starts with "test"
    (MSP-Podcast: "test1").
    """
    splits = table["split"]
    present = sorted(set(splits.dropna()), key=_natural_key)
    if "train" not in present:
        raise CorpusError(
            f"the predefined protocol needs a 'train' split; the table's splits are {present or 'none'} "
            "(choose speaker-kfold, loso or speaker-script for corpora without one)"
        )
    if test_split is None:
        tests = [s for s in present if s.startswith("test")]
        if not tests:
            raise CorpusError(f"no test split in the table (splits: {present}); name one with test_split")
        test_split = "test" if "test" in tests else tests[0]
    if test_split not in present:
        raise CorpusError(f"test split {test_split!r} is not in the table; its splits are {present}")
    fold = _fold_from_masks(
        table,
        test_split,
        (splits == "train").to_numpy(),
        (splits == test_split).to_numpy(),
        dev_fraction,
        seed,
        [test_split],
        dev_mask=(splits == "dev").to_numpy(),
    )
    return [fold]


def speaker_kfold(
    table: pd.DataFrame, *, n_folds: int = 5, seed: int = 0, dev_fraction: float = 0.1
) -> list[Fold]:
    """``n_folds`` folds grouped by speaker, stratified by label where the groups allow."""
    if n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2, got {n_folds}")
    groups = speaker_groups(table)
    folds = []
    for k, test_rows in enumerate(_group_kfold(table, groups, n_folds, seed), start=1):
        test_mask = np.zeros(len(table), dtype=bool)
        test_mask[test_rows] = True
        test_groups = [g for g in set(groups[test_mask]) if not g.startswith("unknown:")]
        folds.append(
            _fold_from_masks(table, f"fold{k}", ~test_mask, test_mask, dev_fraction, seed, test_groups)
        )
    return folds


def _sessions(table: pd.DataFrame, protocol: str) -> list[str]:
    missing = table.loc[table["session"].isna(), "utterance_id"].tolist()
    if missing:
        raise CorpusError(
            f"{protocol} needs a session for every utterance; {len(missing)} have none (e.g. {missing[:5]}). "
            "Use speaker-kfold for corpora without sessions."
        )
    sessions = sorted(set(table["session"]), key=_natural_key)
    if len(sessions) < 2:
        raise CorpusError(f"{protocol} needs at least two sessions; the table has {sessions}")
    return sessions


def leave_one_session_out(table: pd.DataFrame, *, seed: int = 0, dev_fraction: float = 0.1) -> list[Fold]:
    """One fold per session: test = that session, train = the others (dev carved from their speakers)."""
    folds = []
    for session in _sessions(table, "leave-one-session-out"):
        test_mask = (table["session"] == session).to_numpy()
        folds.append(_fold_from_masks(table, session, ~test_mask, test_mask, dev_fraction, seed, [session]))
    return folds


def default_test_scripts(table: pd.DataFrame) -> tuple[str, ...]:
    """pepino2020's choice generalised: the last script family in natural order (IEMOCAP: ``script03``)."""
    families = sorted({script_family(s) for s in table["script"].dropna()}, key=_natural_key)
    return (families[-1],) if families else ()


def speaker_script_folds(
    table: pd.DataFrame,
    *,
    n_folds: int = 5,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_scripts: Sequence[str] | None = None,
) -> list[Fold]:
    """Folds by speaker AND script (pepino2020 section 4.1, "SP&SC"); see the module docstring.

    Args:
        table: utterance table.
        n_folds: number of speaker-grouped folds when the table has no sessions (ignored otherwise: one
            fold per session, 5 for IEMOCAP).
        seed: seed of the grouping and of the dev carving.
        dev_fraction: fraction of training speakers held out as dev.
        test_scripts: script families used for testing (default :func:`default_test_scripts`).
    """
    families = np.array(
        [script_family(s) if isinstance(s, str) else None for s in table["script"]], dtype=object
    )
    tests = tuple(test_scripts) if test_scripts is not None else default_test_scripts(table)
    tests = tuple(script_family(t) or t for t in tests)
    known = {f for f in families if f is not None}
    unknown = [t for t in tests if t not in known]
    if unknown:
        raise ConfigError(
            f"test script(s) {unknown} are not scripts of the table; its scripts are {sorted(known)}"
        )
    unscripted = np.array([f is None for f in families])
    test_script = np.array([f in tests for f in families])
    groups = speaker_groups(table)
    if table["session"].notna().all() and table["session"].nunique() >= 2:
        units = [(s, (table["session"] == s).to_numpy()) for s in _sessions(table, "speaker-script")]
    else:
        units = []
        for k, rows in enumerate(_group_kfold(table, groups, n_folds, seed), start=1):
            mask = np.zeros(len(table), dtype=bool)
            mask[rows] = True
            units.append((f"fold{k}", mask))
    folds = []
    for name, unit_mask in units:
        test_speakers = set(groups[unit_mask])
        is_test_speaker = np.array([g in test_speakers for g in groups])
        test_mask = is_test_speaker & (unscripted | test_script)
        train_mask = ~is_test_speaker & (unscripted | ~test_script)
        test_groups = [g for g in test_speakers if not g.startswith("unknown:")]
        folds.append(_fold_from_masks(table, name, train_mask, test_mask, dev_fraction, seed, test_groups))
    return folds


def random_kfold(
    table: pd.DataFrame, *, n_folds: int = 5, seed: int = 0, dev_fraction: float = 0.1
) -> list[Fold]:
    """``n_folds`` folds over the utterances, shuffled with ``seed`` (kumar2021: "80%-20%" + 5-fold).

    Speaker-DEPENDENT: a speaker's utterances fall on both sides, so scores are optimistic next to the
    speaker-independent protocols; the leak checker says so (use ``strict=False``). ``dev_fraction`` of each fold's
    training utterances (random) form the dev set. The runner passes only the utterances with a target.
    """
    from sklearn.model_selection import KFold

    if n_folds < 2:
        raise ConfigError(f"n_folds must be at least 2, got {n_folds}")
    ids = [str(u) for u in table["utterance_id"]]
    if len(ids) < n_folds:
        raise ConfigError(f"random-kfold needs at least {n_folds} utterances; the table has {len(ids)}")
    rng = np.random.default_rng(seed)
    folds = []
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for i, (train_idx, test_idx) in enumerate(splitter.split(ids)):
        train = [ids[j] for j in train_idx]
        n_dev = int(round(dev_fraction * len(train)))
        dev_set = set(rng.choice(train, size=n_dev, replace=False).tolist()) if n_dev else set()
        folds.append(
            Fold(
                f"fold{i + 1}",
                train=tuple(u for u in train if u not in dev_set),
                dev=tuple(u for u in train if u in dev_set),
                test=tuple(ids[j] for j in test_idx),
            )
        )
    return folds


def _predefined(table: pd.DataFrame, **o: Any) -> list[Fold]:
    return predefined_split(table, test_split=o["test_split"], dev_fraction=o["dev_fraction"], seed=o["seed"])


def _speaker_kfold(table: pd.DataFrame, **o: Any) -> list[Fold]:
    return speaker_kfold(table, n_folds=o["n_folds"], seed=o["seed"], dev_fraction=o["dev_fraction"])


def _loso(table: pd.DataFrame, **o: Any) -> list[Fold]:
    return leave_one_session_out(table, seed=o["seed"], dev_fraction=o["dev_fraction"])


def _speaker_script(table: pd.DataFrame, **o: Any) -> list[Fold]:
    return speaker_script_folds(
        table,
        n_folds=o["n_folds"],
        seed=o["seed"],
        dev_fraction=o["dev_fraction"],
        test_scripts=o["test_scripts"],
    )


def _random_kfold(table: pd.DataFrame, **o: Any) -> list[Fold]:
    return random_kfold(table, n_folds=o["n_folds"], seed=o["seed"], dev_fraction=o["dev_fraction"])


def _loso_speaker(table: pd.DataFrame, **o: Any) -> list[Fold]:
    from emofuse.corpus.given_folds import leave_one_speaker_out

    return leave_one_speaker_out(table, seed=o["seed"], dev_fraction=o["dev_fraction"])


#: protocol name -> implementation, called as ``impl(table, n_folds=, seed=, dev_fraction=, test_split=,
#: test_scripts=)`` (each takes the options it needs). The one list of protocol names: add a protocol here.
PROTOCOL_REGISTRY: dict[str, Callable[..., list[Fold]]] = {
    "predefined": _predefined,
    "speaker-kfold": _speaker_kfold,
    "loso": _loso,
    "speaker-script": _speaker_script,
    "random-kfold": _random_kfold,
    "leave-one-speaker-out": _loso_speaker,
}
PROTOCOLS: tuple[str, ...] = tuple(PROTOCOL_REGISTRY)
_ALIASES = {"leave-one-session-out": "loso", "loso-speaker": "leave-one-speaker-out"}


def make_folds(
    table: pd.DataFrame,
    protocol: str,
    *,
    n_folds: int = 5,
    seed: int = 0,
    dev_fraction: float = 0.1,
    test_split: str | None = None,
    test_scripts: Sequence[str] | None = None,
    check: bool = True,
    strict: bool = False,
    strict_transcripts: bool = False,
) -> list[Fold]:
    """Make the folds of ``protocol`` and run the leak checker on them.

    Args:
        table: utterance table.
        protocol: one of :data:`PROTOCOLS`.
        n_folds: folds for speaker-kfold (and speaker-script without sessions).
        seed: makes the folds reproducible.
        dev_fraction: fraction of the training speakers carved out as dev (0 for none).
        test_split: predefined protocol's test split name.
        test_scripts: speaker-script protocol's test script families.
        check: run :func:`~emofuse.corpus.leaks.check_leaks` (a LeakWarning when leaks are found).
        strict: raise CorpusError instead of warning when the folds share speakers, scripts or utterances.
        strict_transcripts: with ``strict``, identical transcripts on both sides raise too.
    """
    if not len(table):
        raise CorpusError("the utterance table is empty; nothing to split")
    from emofuse.corpus.given_folds import given_folds, is_given_protocol

    key = protocol.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if is_given_protocol(protocol) and key not in PROTOCOL_REGISTRY:
        folds = given_folds(table, protocol, seed=seed, dev_fraction=dev_fraction)
    else:
        if key not in PROTOCOL_REGISTRY:
            raise ConfigError(
                f"unknown protocol {protocol!r}; choose one of {list(PROTOCOLS)}, column:<name> or file:<path>"
            )
        check_protocol_columns(table, key)
        folds = PROTOCOL_REGISTRY[key](
            table,
            n_folds=n_folds,
            seed=seed,
            dev_fraction=dev_fraction,
            test_split=test_split,
            test_scripts=test_scripts,
        )
    if check:
        check_leaks(table, folds, strict=strict, strict_transcripts=strict_transcripts)
    return folds


def check_protocol_columns(table: pd.DataFrame, protocol: str) -> None:
    """Raise :class:`CorpusError` naming the column when ``table`` lacks one that ``protocol`` needs
    (:data:`REQUIRED_COLUMNS`): absent, or empty in every row."""
    for column in REQUIRED_COLUMNS.get(protocol, ()):
        if column not in table.columns or table[column].isna().all():
            raise CorpusError(
                f"protocol {protocol} needs the {column!r} column, and the table has no {column} in any row; "
                f"add a {column} column to the manifest (map it with --map {column}=<column>) or choose "
                "another protocol"
            )


def fold_sizes(folds: Sequence[Fold]) -> list[dict[str, Any]]:
    """Per-fold counts (name, train, dev, test, excluded) for reports."""
    return [
        {
            "name": f.name,
            "train": len(f.train),
            "dev": len(f.dev),
            "test": len(f.test),
            "excluded": len(f.excluded),
        }
        for f in folds
    ]


__all__ = [
    "PROTOCOLS",
    "PROTOCOL_REGISTRY",
    "Fold",
    "SplitFile",
    "carve_dev",
    "check_protocol_columns",
    "default_test_scripts",
    "fold_sizes",
    "leave_one_session_out",
    "make_folds",
    "predefined_split",
    "random_kfold",
    "read_splits",
    "speaker_groups",
    "speaker_kfold",
    "speaker_script_folds",
    "write_splits",
]
