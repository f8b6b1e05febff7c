"""Corpus statistics for ``emofuse corpus inspect``: counts per label, speaker, split and the total duration."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from emofuse.corpus.table import duration_s


@dataclass
class CorpusSummary:
    """Counts of an utterance table.

    Attributes:
        n_utterances: rows.
        total_duration_s: summed duration (NaN-free; files whose header cannot be read are not counted).
        n_unknown_duration: rows whose duration could not be found.
        by_label / by_speaker / by_split / by_gender / by_session: value -> count ("<none>" for missing).
        n_speakers: distinct known speakers; n_unknown_speaker: rows with speaker None.
    """

    n_utterances: int
    total_duration_s: float
    n_unknown_duration: int
    by_label: dict[str, int]
    by_speaker: dict[str, int]
    by_split: dict[str, int]
    by_gender: dict[str, int]
    by_session: dict[str, int]
    n_speakers: int
    n_unknown_speaker: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _counts(series: pd.Series) -> dict[str, int]:
    counts = series.fillna("<none>").value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def summarize(table: pd.DataFrame, *, with_duration: bool = True) -> CorpusSummary:
    """Count a table's utterances per label, speaker, split, gender and session; sum their duration."""
    if with_duration and len(table):
        durations = duration_s(table)
        total = float(durations.dropna().sum())
        unknown = int(durations.isna().sum())
    else:
        total, unknown = math.nan, len(table)
    return CorpusSummary(
        n_utterances=len(table),
        total_duration_s=total,
        n_unknown_duration=unknown,
        by_label=_counts(table["label"]),
        by_speaker=_counts(table["speaker"]),
        by_split=_counts(table["split"]),
        by_gender=_counts(table["gender"]),
        by_session=_counts(table["session"]),
        n_speakers=int(table["speaker"].dropna().nunique()),
        n_unknown_speaker=int(table["speaker"].isna().sum()),
    )
