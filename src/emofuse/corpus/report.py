"""What an adapter read, and everything it left out and why (nothing is dropped silently).

:func:`finish` is the common tail of every adapter: duplicate-id check, label map, no-agreement and class
filters, and the audio check (missing or unreadable files raise, or are skipped and reported).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from emofuse.corpus.labels import NO_AGREEMENT_LABELS
from emofuse.corpus.table import check_audio_exists, make_table, validate_table
from emofuse.errors import AudioError, ConfigError, CorpusError


@dataclass
class CorpusReport:
    """Counts and ids of what an adapter found, kept and left out.

    Attributes:
        corpus: adapter name ("iemocap", ...).
        root: the corpus root (or manifest path) that was read.
        n_found: utterances found in the label files before any filter.
        dropped: reason -> utterance ids left out for that reason (insertion order = order applied).
        notes: other things worth knowing (e.g. utterances without a transcript).
    """

    corpus: str
    root: str
    n_found: int = 0
    dropped: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def drop(self, reason: str, ids: Sequence[str]) -> None:
        """Record ``ids`` as left out for ``reason``."""
        if len(ids):
            self.dropped.setdefault(reason, []).extend(str(i) for i in ids)

    @property
    def n_dropped(self) -> int:
        return sum(len(v) for v in self.dropped.values())

    @property
    def n_kept(self) -> int:
        return self.n_found - self.n_dropped

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [f"{self.corpus}: {self.n_found} utterance(s) found in {self.root}, {self.n_kept} kept"]
        for reason, ids in self.dropped.items():
            sample = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            lines.append(f"  dropped {len(ids)}: {reason} ({sample})")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "root": self.root,
            "n_found": self.n_found,
            "n_kept": self.n_kept,
            "dropped": {k: list(v) for k, v in self.dropped.items()},
            "notes": list(self.notes),
        }


@dataclass
class CorpusResult:
    """An utterance table (schema of :mod:`emofuse.corpus.table`) and the report of how it was read.

    Unpacks as ``table, report = read_corpus(...)``.
    """

    table: pd.DataFrame
    report: CorpusReport

    def __iter__(self) -> Iterator[Any]:
        yield self.table
        yield self.report

    def __len__(self) -> int:
        return len(self.table)


def check_unique_ids(ids: Sequence[str], sources: Sequence[str], corpus: str) -> None:
    """Raise :class:`CorpusError` listing every duplicated id with the places it was read from."""
    seen: dict[str, list[str]] = {}
    for uid, src in zip(ids, sources, strict=True):
        seen.setdefault(uid, []).append(src)
    dups = {u: s for u, s in seen.items() if len(s) > 1}
    if dups:
        lines = [f"  {u}: {'; '.join(s)}" for u, s in list(dups.items())[:20]]
        more = f"\n  ... and {len(dups) - 20} more" if len(dups) > 20 else ""
        raise CorpusError(
            f"{corpus}: {len(dups)} utterance id(s) occur more than once:\n" + "\n".join(lines) + more + "\n"
            "Remove the duplicate rows (ids must be unique within a corpus)."
        )


def finish(
    records: list[dict[str, Any]],
    report: CorpusReport,
    *,
    sources: Sequence[str] | None = None,
    label_map: Mapping[str, str] | None = None,
    drop_no_agreement: bool = False,
    classes: Sequence[str] | None = None,
    known_labels: Sequence[str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Turn adapter records into a validated table, applying the filters every adapter shares.

    Args:
        records: one dict per utterance with schema columns.
        report: the adapter's report; filled with what is dropped here.
        sources: where each record came from ("file:line"), used in duplicate-id errors.
        label_map: old label -> new label (applied first, e.g. excited -> happy).
        drop_no_agreement: drop ``no_agreement`` and ``other`` labels (counted in the report).
        classes: keep only these labels (others counted as dropped).
        known_labels: the corpus's label vocabulary; a class outside it is a typo and raises ConfigError.
        skip_missing: skip (and report) rows whose audio is missing or unreadable instead of raising.
        verify_audio: also read each file's header, so empty or corrupt files are caught here.
    """
    corpus = report.corpus
    ids = [str(r["utterance_id"]) for r in records]
    check_unique_ids(ids, sources or ["?"] * len(ids), corpus)
    report.n_found = len(records)
    table = make_table(records, corpus=corpus)

    if label_map:
        table["label"] = [v if not isinstance(v, str) else label_map.get(v, v) for v in table["label"]]
    if drop_no_agreement:
        for lab in sorted(NO_AGREEMENT_LABELS):
            mask = table["label"] == lab
            report.drop(f"label {lab!r} (drop_no_agreement)", table.loc[mask, "utterance_id"].tolist())
            table = table.loc[~mask]
    if classes is not None:
        classes = list(classes)
        if known_labels is not None:
            vocab = set(known_labels) | set((label_map or {}).values())
            unknown = [c for c in classes if c not in vocab]
            if unknown:
                raise ConfigError(
                    f"{corpus}: class(es) {unknown} are not labels of this corpus; its labels are {sorted(vocab)}"
                )
        keep = table["label"].isin(classes)
        for lab, group in table.loc[~keep].groupby(table.loc[~keep, "label"].fillna("<none>"), sort=True):
            report.drop(f"label {lab!r} not in classes", group["utterance_id"].tolist())
        table = table.loc[keep]
    table = table.reset_index(drop=True)

    table, missing = check_audio_exists(table, skip_missing=skip_missing)
    report.drop("audio file missing", missing)
    if verify_audio and len(table):
        table = _check_readable(table, report, skip_missing=skip_missing)
    return CorpusResult(table=validate_table(table), report=report)


def _check_readable(table: pd.DataFrame, report: CorpusReport, *, skip_missing: bool) -> pd.DataFrame:
    from emofuse.audio import audio_info

    bad: list[tuple[str, str, str]] = []
    cache: dict[str, str | None] = {}
    for uid, path in zip(table["utterance_id"], table["audio_path"], strict=True):
        if path is None:  # a text-only row
            continue
        if path not in cache:
            try:
                info = audio_info(path)
                cache[path] = info.truncated or (
                    None if info.frames > 0 else "the file holds no audio frames"
                )
            except AudioError as exc:
                cache[path] = str(exc).split(":", 1)[-1].strip().splitlines()[0]
            except Exception as exc:  # libsndfile raises several types on bad headers
                cache[path] = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if cache[path] is not None:
            bad.append((uid, path, str(cache[path])))
    if not bad:
        return table
    if not skip_missing:
        listing = "\n".join(f"  {u}: {p} ({why})" for u, p, why in bad[:20])
        more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
        raise CorpusError(
            f"{len(bad)} utterance(s) point to audio that cannot be read:\n{listing}{more}\n"
            "Replace the files, or pass --skip-missing (skip_missing=True) to leave these rows out (they are reported)."
        )
    bad_ids = [u for u, _, _ in bad]
    report.drop("audio file unreadable or empty", bad_ids)
    return table.loc[~table["utterance_id"].isin(set(bad_ids))]


def require_dir(path: str | os.PathLike[str], corpus: str, what: str) -> None:
    """Raise a clear CorpusError when a corpus folder is missing."""
    if not os.path.isdir(path):
        raise CorpusError(f"{corpus}: {what} not found: {path}. Check the corpus root you gave.")
