"""Leak checker: what the train side and the test side of a fold share.

A fold leaks when its test utterances share a **speaker**, a **script** (scripts are compared by family:
IEMOCAP ``script01_1`` and ``script01_3`` are both script 1, as in pepino2020 section 4.1) or an identical
**transcript** (after normalisation, only transcripts of at least ``min_transcript_words`` words, so that
"yeah." does not count) with the utterances the model sees while training (train and dev), or the same
utterance id is on both sides. Unknown speakers (None) are never matched with each other.

Leaks are always listed (and warned about); ``strict=True`` turns shared speakers, scripts and utterances
into an error, and shared transcripts too with ``strict_transcripts=True``.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd

from emofuse.errors import CorpusError

if TYPE_CHECKING:
    from emofuse.corpus.protocols import Fold

log = logging.getLogger(__name__)
_BRACKETS = re.compile(r"\[[^\]]*\]|<[^>]*>")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")
_FAMILY = re.compile(r"^(script\d+)", re.IGNORECASE)


class LeakWarning(UserWarning):
    """Train and test of a split share speakers, scripts or transcripts."""


def normalise_transcript(text: str | None) -> str:
    """Lower case, without bracketed events ([LAUGHTER]), apostrophes and punctuation, single spaces."""
    if not text:
        return ""
    t = _BRACKETS.sub(" ", str(text).lower()).replace("'", "").replace("\u2019", "")
    return " ".join(_NON_WORD.sub(" ", t).split())


def script_family(script: str | None) -> str | None:
    """``script01_2`` -> ``script01`` (IEMOCAP script number); other script ids are their own family."""
    if not isinstance(script, str):
        return None
    m = _FAMILY.match(script)
    return m.group(1).lower() if m else script


@dataclass
class FoldLeaks:
    """What the train side (train + dev) and the test side of one fold share."""

    fold: str
    speakers: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    utterances: list[str] = field(default_factory=list)

    @property
    def has_leaks(self) -> bool:
        return bool(self.speakers or self.scripts or self.transcripts or self.utterances)

    def is_fatal(self, strict_transcripts: bool = False) -> bool:
        """Speakers, scripts or utterances shared (and transcripts when ``strict_transcripts``)."""
        return bool(
            self.speakers or self.scripts or self.utterances or (strict_transcripts and self.transcripts)
        )


@dataclass
class LeakReport:
    """Leaks of every fold of a split."""

    folds: list[FoldLeaks]

    @property
    def has_leaks(self) -> bool:
        return any(f.has_leaks for f in self.folds)

    @property
    def leaking_folds(self) -> list[FoldLeaks]:
        return [f for f in self.folds if f.has_leaks]

    def is_fatal(self, strict_transcripts: bool = False) -> bool:
        """Whether a strict check fails: see :meth:`FoldLeaks.is_fatal`."""
        return any(f.is_fatal(strict_transcripts) for f in self.folds)

    def summary(self) -> str:
        if not self.has_leaks:
            return f"no leaks in {len(self.folds)} fold(s)"
        lines = []
        for f in self.leaking_folds:
            parts = []
            for name in ("speakers", "scripts", "transcripts", "utterances"):
                items = getattr(f, name)
                if items:
                    shown = ", ".join(repr(i) for i in items[:5]) + (", ..." if len(items) > 5 else "")
                    parts.append(f"{len(items)} {name} ({shown})")
            lines.append(f"fold {f.fold}: train and test share " + "; ".join(parts))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"has_leaks": self.has_leaks, "folds": [asdict(f) for f in self.folds]}


def check_leaks(
    table: pd.DataFrame,
    folds: Sequence[Fold],
    *,
    strict: bool = False,
    strict_transcripts: bool = False,
    warn: bool = True,
    min_transcript_words: int = 4,
    include_dev: bool = True,
) -> LeakReport:
    """Find speakers, scripts, transcripts and utterances shared by the train and test sides of each fold.

    Args:
        table: the utterance table the folds were made from.
        folds: the folds to check.
        strict: raise :class:`CorpusError` naming the leaks when speakers, scripts or utterances are shared.
        strict_transcripts: with ``strict``, shared transcripts raise too. Off by default: templated or
            acted corpora repeat short sentences across speakers (the demo corpus does), which is worth a
            warning but not always an error; scripted material is caught through its script id.
        warn: emit a :class:`LeakWarning` (and a log warning) when there are leaks and ``strict`` is False.
        min_transcript_words: shorter normalised transcripts are not compared.
        include_dev: count dev utterances as part of the train side (the model sees them for early stopping).

    Raises:
        CorpusError: a fold names utterance ids the table does not hold, or ``strict`` and leaks were found.
    """
    by_id = table.set_index("utterance_id", drop=False)
    known = set(by_id.index)
    results: list[FoldLeaks] = []
    for fold in folds:
        seen = list(fold.train) + (list(fold.dev) if include_dev else [])
        unknown = [u for u in [*seen, *fold.test] if u not in known]
        if unknown:
            raise CorpusError(
                f"fold {fold.name} names {len(unknown)} utterance id(s) missing from the table, e.g. {unknown[:5]}; "
                "was the split made from another corpus or with other filters?"
            )
        train = by_id.loc[seen]
        test = by_id.loc[list(fold.test)]
        leaks = FoldLeaks(fold=fold.name)
        leaks.utterances = sorted(set(seen) & set(fold.test))
        leaks.speakers = sorted(set(train["speaker"].dropna()) & set(test["speaker"].dropna()))
        fam_train = {script_family(s) for s in train["script"].dropna()}
        fam_test = {script_family(s) for s in test["script"].dropna()}
        leaks.scripts = sorted(fam_train & fam_test)

        def texts(frame: pd.DataFrame) -> set[str]:
            norm = (normalise_transcript(t) for t in frame["transcript"].dropna())
            return {t for t in norm if len(t.split()) >= min_transcript_words}

        leaks.transcripts = sorted(texts(train) & texts(test))
        results.append(leaks)
    report = LeakReport(folds=results)
    if report.has_leaks:
        if strict and report.is_fatal(strict_transcripts):
            raise CorpusError(
                "the split leaks between train and test:\n"
                + report.summary()
                + "\nUse a protocol that groups by speaker and script (speaker-script), or drop --strict to only warn."
            )
        if warn:
            log.debug("split leaks between train and test:\n%s", report.summary())
            warnings.warn(
                f"split leaks between train and test:\n{report.summary()}", LeakWarning, stacklevel=2
            )
    return report
