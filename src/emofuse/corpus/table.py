"""The utterance table: one row per utterance, the one representation of a corpus in emofuse.

Schema (a pandas DataFrame; every adapter returns exactly these columns, in this order):

=============  ========  ===========================================================================
column         dtype     meaning
=============  ========  ===========================================================================
utterance_id   str       unique id within the corpus (the corpus's own id where it has one)
audio_path     str|None  absolute path of the audio file; None for a text-only row (then ``transcript`` is
                         required: the text branch trains on it, audio branches skip the row)
start_s        float     start of the utterance inside ``audio_path`` in seconds; NaN = file start
end_s          float     end of the utterance inside ``audio_path`` in seconds; NaN = file end
speaker        str|None  speaker id; None when unknown (unknown speakers are never merged into one)
gender         str|None  "F", "M" or None
session        str|None  recording session (IEMOCAP Session1..5), None if the corpus has none
script         str|None  script id for scripted material (e.g. "script01_2"); None for improvised
transcript     str|None  human transcript when the corpus has one
label          str|None  categorical emotion label (lower case, e.g. "angry")
arousal        float     dimensional labels on the corpus's own scale; NaN when absent
valence        float
dominance      float
split          str|None  predefined split ("train", "dev", "test", ...) when the corpus has one
corpus         str       name of the adapter that read it ("iemocap", "msp_podcast", ...)
=============  ========  ===========================================================================
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.errors import CorpusError
from emofuse.io import atomic_open

COLUMNS: tuple[str, ...] = (
    "utterance_id",
    "audio_path",
    "start_s",
    "end_s",
    "speaker",
    "gender",
    "session",
    "script",
    "transcript",
    "label",
    "arousal",
    "valence",
    "dominance",
    "split",
    "corpus",
)
FLOAT_COLUMNS: tuple[str, ...] = ("start_s", "end_s", "arousal", "valence", "dominance")
STR_COLUMNS: tuple[str, ...] = tuple(c for c in COLUMNS if c not in FLOAT_COLUMNS)
AVD_COLUMNS: tuple[str, ...] = ("arousal", "valence", "dominance")


def make_table(records: Iterable[Mapping[str, Any]], corpus: str | None = None) -> pd.DataFrame:
    """Build a validated utterance table from dict-like records (missing columns become None/NaN).

    Raises:
        CorpusError: an unknown column, a missing id or audio path, or duplicate utterance ids.
    """
    rows = [dict(r) for r in records]
    for i, row in enumerate(rows):
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise CorpusError(f"row {i}: unknown column(s) {sorted(unknown)}; the schema is {list(COLUMNS)}")
        if corpus is not None and not row.get("corpus"):
            row["corpus"] = corpus
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return validate_table(frame)


def validate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise dtypes of an utterance table; returns a new frame with the schema's columns."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise CorpusError(f"utterance table lacks column(s) {missing}; the schema is {list(COLUMNS)}")
    out = frame.loc[:, list(COLUMNS)].copy()
    for col in FLOAT_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in STR_COLUMNS:
        out[col] = out[col].astype(object).where(out[col].notna(), None)
        out[col] = out[col].map(lambda v: None if v is None else str(v))
        # pandas 3 infers the "str" dtype here, whose missing value is NaN: keep object dtype with None,
        # as the schema documents (so `value is None` tests work on rows and records).
        out[col] = out[col].astype(object).where(out[col].notna(), None)
    if out["utterance_id"].isna().any():
        bad = out.index[out["utterance_id"].isna()].tolist()[:10]
        raise CorpusError(f"rows {bad} have no utterance_id")
    no_source = out["audio_path"].isna() & out["transcript"].isna()
    if no_source.any():
        bad = out.loc[no_source, "utterance_id"].tolist()[:10]
        raise CorpusError(
            f"utterances {bad} have neither audio_path nor transcript; give the audio file, or the text for "
            "a text-only row"
        )
    dup = out["utterance_id"][out["utterance_id"].duplicated(keep=False)]
    if len(dup):
        raise CorpusError(
            f"duplicate utterance ids ({dup.nunique()} ids, e.g. {sorted(set(dup))[:10]}); ids must be unique"
        )
    return out.reset_index(drop=True)


def check_audio_exists(frame: pd.DataFrame, *, skip_missing: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """Check that every row's audio file exists.

    Returns:
        (table, skipped_ids). With ``skip_missing`` rows whose file is missing are removed and their ids
        returned; without it a missing file raises :class:`CorpusError` listing the rows.
    """
    missing_mask = frame["audio_path"].map(lambda p: p is not None and not os.path.isfile(p))
    if not missing_mask.any():
        return frame, []
    rows = frame.loc[missing_mask, ["utterance_id", "audio_path"]]
    if not skip_missing:
        listing = "\n".join(f"  {u}: {p}" for u, p in rows.head(20).itertuples(index=False))
        more = f"\n  ... and {len(rows) - 20} more" if len(rows) > 20 else ""
        raise CorpusError(
            f"{len(rows)} utterance(s) point to audio that does not exist:\n{listing}{more}\n"
            "Fix the paths, or pass --skip-missing to leave these rows out (they will be reported)."
        )
    return frame.loc[~missing_mask].reset_index(drop=True), rows["utterance_id"].tolist()


def write_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a table as JSON lines (``.jsonl``) or CSV (``.csv``), atomically."""
    frame = validate_table(frame)
    p = Path(path)
    with atomic_open(p, "w") as handle:
        if p.suffix == ".csv":
            frame.to_csv(handle, index=False)
        else:
            for record in frame.to_dict(orient="records"):
                clean = {
                    k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()
                }
                handle.write(json.dumps(clean) + "\n")


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by :func:`write_table`."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"utterance table not found: {p}")
    if p.suffix == ".csv":
        frame = pd.read_csv(p, dtype={c: object for c in STR_COLUMNS})
    else:
        rows = []
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise CorpusError(f"utterance table {p} is not UTF-8 text; is it the right file?") from None
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                raise CorpusError(
                    f"utterance table {p}:{line_no} is not a JSON line; give a table written by "
                    "`emofuse corpus export`"
                ) from None
        if not all(isinstance(r, dict) for r in rows):
            raise CorpusError(f"utterance table {p}: every line must be a JSON object (one utterance)")
        frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return validate_table(frame)


def duration_s(frame: pd.DataFrame) -> pd.Series:
    """Duration of each utterance in seconds (from the span, else from the file header)."""
    from emofuse.audio import audio_info

    def one(row: Any) -> float:
        if row.audio_path is None:
            return float("nan")
        if not math.isnan(row.start_s) and not math.isnan(row.end_s):
            return float(row.end_s - row.start_s)
        try:
            total = audio_info(row.audio_path).duration_s
        except Exception:
            return float("nan")
        start = 0.0 if math.isnan(row.start_s) else row.start_s
        end = total if math.isnan(row.end_s) else row.end_s
        return float(end - start)

    return pd.Series([one(r) for r in frame.itertuples(index=False)], index=frame.index, name="duration_s")
