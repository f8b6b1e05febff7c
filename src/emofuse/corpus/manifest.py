"""Plain manifest reader: a CSV or JSON-lines file with one row per utterance and a column mapping.

``mapping`` maps schema fields (see :mod:`emofuse.corpus.table`) to the manifest's column names, e.g.
``{"audio_path": "path", "label": "emo"}`` or on the command line ``--map audio=path,label=emo``. The
aliases ``audio``/``path`` (audio_path), ``id`` (utterance_id), ``text`` (transcript), ``start``/``end`` (start_s/end_s),
``emotion`` (label) are accepted. A schema field not mapped is taken from a column of the same name (or of one
of its aliases) when there is one. Without
an ``utterance_id`` column the id is the audio file's stem. Relative audio paths are resolved against the
manifest's folder.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.corpus.report import CorpusReport, CorpusResult, check_unique_ids, finish
from emofuse.corpus.table import COLUMNS, FLOAT_COLUMNS
from emofuse.errors import ConfigError, CorpusError, short_repr

ALIASES: dict[str, str] = {
    "audio": "audio_path",
    "path": "audio_path",
    "id": "utterance_id",
    "text": "transcript",
    "start": "start_s",
    "end": "end_s",
    "emotion": "label",
}


def _read_rows(path: Path) -> pd.DataFrame:
    """The manifest's rows as a frame of strings; any unreadable or malformed file is a CorpusError naming it."""
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".ndjson", ".json", ".csv", ".tsv"):
        raise CorpusError(f"manifest {path}: unknown file type {suffix!r}; use .csv, .tsv or .jsonl")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"manifest {path} cannot be read ({exc.strerror}); check the path") from None
    if not raw.strip():
        raise CorpusError(
            f"manifest {path} is empty; it needs a header row (CSV) or one JSON object per line"
        )
    if b"\x00" in raw[:65536]:
        raise CorpusError(
            f"manifest {path} is a binary file, not a CSV/JSONL manifest; is it the right file?"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        raise CorpusError(
            f"manifest {path}:{line_no} is not UTF-8 text (byte {raw[exc.start]:#04x}); save the file as UTF-8"
        ) from None
    if suffix in (".jsonl", ".ndjson", ".json"):
        rows = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                raise CorpusError(f"manifest {path}:{line_no} is not valid JSON ({why})") from None
            if not isinstance(obj, dict):
                raise CorpusError(f"manifest {path}:{line_no} is not a JSON object")
            bad = [k for k, v in obj.items() if isinstance(v, dict | list)]
            if bad:
                raise CorpusError(
                    f"manifest {path}:{line_no}: field(s) {short_repr(bad)} hold a list or object; each field "
                    "of a manifest row is one value (text or number)"
                )
            rows.append(obj)
        return pd.DataFrame(rows)
    import csv
    import io

    sep = "\t" if suffix == ".tsv" else ","
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorpusError(f"manifest {path} is not a valid {suffix[1:].upper()} table ({first})") from None


def resolve_mapping(mapping: Mapping[str, str] | None, columns: Sequence[str], path: Path) -> dict[str, str]:
    """Schema field -> manifest column, validated against the manifest's columns."""
    out: dict[str, str] = {}
    for key, column in (mapping or {}).items():
        field = ALIASES.get(key, key)
        if field not in COLUMNS:
            raise ConfigError(
                f"manifest mapping key {key!r} is not a schema field; use one of {list(COLUMNS)} (or {sorted(ALIASES)})"
            )
        if column not in columns:
            raise ConfigError(
                f"manifest {path} has no column {column!r} (mapped to {field}); its columns are {list(columns)}"
            )
        out[field] = column
    taken = set(out.values())
    for field in COLUMNS:
        if field in out:
            continue
        names = [field, *(alias for alias, f in ALIASES.items() if f == field)]
        found = next((c for c in names if c in columns and c not in taken), None)
        if found is not None:
            out[field] = found
            taken.add(found)
    if "audio_path" not in out:
        fallback = next((c for c in ("wav", "file") if c in columns), None)
        if fallback is None and "transcript" in out:
            return out  # a text-only manifest: every row needs its text
        if fallback is None:
            raise ConfigError(
                f"manifest {path}: no audio column; map one with --map audio=<column> (columns: {list(columns)})"
            )
        out["audio_path"] = fallback
    return out


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def read_manifest(
    path: str | Path,
    *,
    mapping: Mapping[str, str] | str | None = None,
    drop_no_agreement: bool = False,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read a CSV/TSV/JSONL manifest into an utterance table.

    Args:
        path: the manifest file.
        mapping: schema field -> manifest column (a dict or ``"audio=path,label=emo"``).
        drop_no_agreement: drop rows labelled ``no_agreement`` or ``other``.
        classes: keep only these labels (labels are lower-cased).
        label_map: relabelling, old -> new (after lower-casing).
        skip_missing: skip (and report) rows whose audio is missing or unreadable instead of raising.
        verify_audio: read each file's header.
    """
    from emofuse.corpus.labels import check_manifest_labels, parse_mapping

    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise CorpusError(f"manifest not found: {path}")
    frame = _read_rows(path)
    if frame.empty:
        raise CorpusError(f"manifest {path} has no rows")
    fields = resolve_mapping(parse_mapping(mapping, "--map"), list(frame.columns), path)
    base = path.parent
    records: list[dict[str, Any]] = []
    sources: list[str] = []
    first_row = 1 if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else 2
    for i, row in enumerate(frame.to_dict(orient="records")):
        where = f"{path}:{i + first_row}"
        rec: dict[str, Any] = {}
        for field, column in fields.items():
            rec[field] = _clean(row.get(column))
        audio = rec.get("audio_path")
        if audio is None and rec.get("transcript") is None:
            column = fields.get("audio_path", "audio")
            raise CorpusError(
                f"manifest {where}: empty audio path (column {column!r}) and no transcript; a row needs one"
            )
        if audio is not None:
            audio_path = Path(str(audio)).expanduser()
            rec["audio_path"] = str(audio_path if audio_path.is_absolute() else (base / audio_path).resolve())
            if rec.get("utterance_id") is None:
                rec["utterance_id"] = audio_path.stem
        elif rec.get("utterance_id") is None:
            raise CorpusError(f"manifest {where}: a text-only row needs an utterance id (column id)")
        for field in FLOAT_COLUMNS:
            if rec.get(field) is not None:
                try:
                    rec[field] = float(rec[field])
                except (TypeError, ValueError):
                    raise CorpusError(
                        f"manifest {where}: {field} (column {fields[field]!r}) holds {rec[field]!r}, not a number"
                    ) from None
        if rec.get("label") is not None:
            rec["label"] = str(rec["label"]).strip().lower()
        rec.setdefault("corpus", None)
        records.append(rec)
        sources.append(where)
    check_unique_ids([str(r["utterance_id"]) for r in records], sources, "manifest")
    if "label" in fields:
        check_manifest_labels(
            [r.get("label") for r in records], sources, fields["label"], label_map=label_map, classes=classes
        )
    report = CorpusReport(corpus="manifest", root=str(path))
    result = finish(
        records,
        report,
        sources=sources,
        label_map=label_map,
        drop_no_agreement=drop_no_agreement,
        classes=classes,
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
    return result
