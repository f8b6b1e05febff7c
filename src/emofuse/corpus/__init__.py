"""Corpora as one utterance table: adapters, label maps, evaluation protocols and the leak checker.

``read_corpus(kind, root, **options)`` reads IEMOCAP, MSP-Podcast, RAVDESS, CREMA-D, EmoDB, a plain manifest, a
Hugging Face dataset (``hf``: a ``save_to_disk`` folder or a Hub id) or an audformat database (``audformat``)
into the table of :mod:`emofuse.corpus.table` and reports everything it left out
(:class:`~emofuse.corpus.report.CorpusResult`, which unpacks as ``table, report``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from emofuse.corpus.audformat_db import read_audformat
from emofuse.corpus.crema_d import read_crema_d
from emofuse.corpus.emodb import read_emodb
from emofuse.corpus.hf_dataset import read_hf_dataset
from emofuse.corpus.iemocap import read_iemocap
from emofuse.corpus.leaks import LeakReport, LeakWarning, check_leaks
from emofuse.corpus.manifest import read_manifest
from emofuse.corpus.msp_podcast import read_msp_podcast
from emofuse.corpus.protocols import PROTOCOLS, Fold, SplitFile, make_folds, read_splits, write_splits
from emofuse.corpus.ravdess import read_ravdess
from emofuse.corpus.report import CorpusReport, CorpusResult
from emofuse.corpus.table import COLUMNS, make_table, read_table, validate_table, write_table
from emofuse.errors import ConfigError

READERS: dict[str, Callable[..., CorpusResult]] = {
    "iemocap": read_iemocap,
    "msp_podcast": read_msp_podcast,
    "ravdess": read_ravdess,
    "crema_d": read_crema_d,
    "emodb": read_emodb,
    "manifest": read_manifest,
    "hf": read_hf_dataset,
    "audformat": read_audformat,
}
KINDS: tuple[str, ...] = tuple(READERS)


def reader_options(kind: str) -> tuple[str, ...]:
    """The keyword options the reader of ``kind`` accepts."""
    return tuple(
        p for p in inspect.signature(_reader(kind)).parameters if p not in ("root", "path", "source")
    )


def _reader(kind: str) -> Callable[..., CorpusResult]:
    key = kind.strip().lower().replace("-", "_")
    if key not in READERS:
        raise ConfigError(f"unknown corpus kind {kind!r}; choose one of {list(READERS)}")
    return READERS[key]


def read_corpus(kind: str, root: str | Path, **options: Any) -> CorpusResult:
    """Read a corpus of ``kind`` (iemocap, msp_podcast, ravdess, crema_d, emodb, manifest, hf, audformat) at
    ``root``.

    Options are those of the kind's reader (``merge_excited_into_happy``, ``drop_no_agreement``, ``classes``,
    ``label_map``, ``skip_missing``, ``verify_audio``, ``mapping`` for manifests, ...); an option the reader
    does not take raises :class:`~emofuse.errors.ConfigError` naming it.
    """
    reader = _reader(kind)
    allowed = reader_options(kind)
    unknown = [k for k in options if k not in allowed]
    if unknown:
        raise ConfigError(f"corpus kind {kind!r} does not take option(s) {unknown}; it takes {list(allowed)}")
    return reader(root, **options)


__all__ = [
    "COLUMNS",
    "KINDS",
    "PROTOCOLS",
    "CorpusReport",
    "CorpusResult",
    "Fold",
    "LeakReport",
    "LeakWarning",
    "SplitFile",
    "check_leaks",
    "make_folds",
    "read_splits",
    "write_splits",
    "make_table",
    "read_corpus",
    "read_audformat",
    "read_crema_d",
    "read_emodb",
    "read_hf_dataset",
    "read_iemocap",
    "read_manifest",
    "read_msp_podcast",
    "read_ravdess",
    "read_table",
    "reader_options",
    "validate_table",
    "write_table",
]
