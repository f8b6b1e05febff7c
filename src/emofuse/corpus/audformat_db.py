"""audformat databases (audEERING's format, used by audb and nkululeko) -> the utterance table.

The database at ``root`` (the folder holding ``db.yaml``) is loaded with the ``audformat`` package; labels are
gathered with ``Database.get(scheme, additional_schemes)``, which merges columns of every table that use a
scheme (and maps labels of a misc table, e.g. a speaker scheme whose labels give each speaker's gender).
``mapping`` names the scheme (or column) behind each schema field; by default ``label`` is ``emotion`` and
``speaker``, ``gender``, ``arousal``, ``valence``, ``dominance`` and ``transcript`` (``transcription`` or
``text``) are used when the database has them. Segmented tables give ``start_s``/``end_s``; each of the
database's splits fills the ``split`` column.

``audformat`` is an optional dependency (``pip install emofuse[corpora]``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from emofuse.corpus.report import CorpusReport, CorpusResult, finish
from emofuse.corpus.table import COLUMNS, FLOAT_COLUMNS
from emofuse.errors import ConfigError, CorpusError

#: schema field -> the scheme names tried, in order, when the mapping does not name one
DEFAULT_SCHEMES: dict[str, tuple[str, ...]] = {
    "label": ("emotion", "category", "label"),
    "speaker": ("speaker",),
    "gender": ("gender", "sex"),
    "transcript": ("transcription", "transcript", "text"),
    "arousal": ("arousal",),
    "valence": ("valence",),
    "dominance": ("dominance",),
    "session": ("session",),
}
ALIASES: dict[str, str] = {"emotion": "label", "text": "transcript"}


def _import_audformat() -> Any:
    try:
        import audformat
    except ImportError:
        raise ConfigError(
            "reading an audformat database needs the `audformat` package: pip install 'emofuse[corpora]'"
        ) from None
    return audformat


def _available(db: Any) -> set[str]:
    """Scheme ids and column names of the database's tables."""
    names = set(db.schemes)
    for table_id in list(db.tables) + list(db.misc_tables):
        names.update(db[table_id].columns)
    return names


def _resolve(db: Any, mapping: Mapping[str, str], root: Path) -> dict[str, str]:
    available = _available(db)
    fields: dict[str, str] = {}
    for key, scheme in mapping.items():
        field = ALIASES.get(key, key)
        if field not in COLUMNS or field in ("utterance_id", "audio_path", "start_s", "end_s", "corpus"):
            raise ConfigError(
                f"audformat mapping key {key!r} is not a label field; use label, speaker, gender, transcript, "
                "arousal, valence, dominance, session or script"
            )
        if scheme not in available:
            raise ConfigError(
                f"audformat {root}: no scheme or column {scheme!r} (mapped to {field}); it has {sorted(available)}"
            )
        fields[field] = scheme
    for field, candidates in DEFAULT_SCHEMES.items():
        if field not in fields:
            found = next((c for c in candidates if c in available), None)
            if found is not None:
                fields[field] = found
    if "label" not in fields and not any(f in fields for f in ("arousal", "valence", "dominance")):
        raise ConfigError(
            f"audformat {root}: no emotion scheme found; map one with --map label=<scheme> "
            f"(schemes and columns: {sorted(available)})"
        )
    return fields


def _gather(db: Any, fields: dict[str, str], split: str | None) -> pd.DataFrame:
    """One row per file or segment: the requested schemes as columns named by schema field."""
    main, *rest = list(dict.fromkeys(fields.values()))
    frame = db.get(main, rest, splits=split) if split is not None else db.get(main, rest)
    out = pd.DataFrame(index=frame.index)
    for field, scheme in fields.items():
        out[field] = frame[scheme] if scheme in frame.columns else None
    # a column of a misc table that labels another scheme (speaker -> gender): mapped through that scheme
    for field, scheme in fields.items():
        if out[field].notna().any():
            continue
        for other, other_scheme in fields.items():
            labels = getattr(db.schemes.get(other_scheme), "labels", None)
            if isinstance(labels, str) and scheme in db[labels].columns and out[other].notna().any():
                out[field] = out[other].map(db[labels].df[scheme])
                break
    return out


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _seconds(value: Any) -> float:
    if value is None or pd.isna(value):
        return float("nan")
    return float(pd.Timedelta(value).total_seconds())


def read_audformat(
    root: str | Path,
    *,
    mapping: Mapping[str, str] | str | None = None,
    drop_no_agreement: bool = False,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read the audformat database at ``root`` into an utterance table.

    Args:
        root: the database folder (with ``db.yaml``).
        mapping: schema field -> scheme or column name (a dict or ``"label=emotion,speaker=spk"``).
        drop_no_agreement, classes, label_map, skip_missing, verify_audio: as for every adapter.
    """
    from emofuse.corpus.labels import parse_mapping

    audformat = _import_audformat()
    path = Path(root).expanduser().resolve()
    if not (path / "db.yaml").is_file():
        raise CorpusError(f"audformat: no db.yaml in {path}; give the folder of an audformat database")
    try:
        db = audformat.Database.load(str(path), load_data=True)
    except Exception as exc:  # audformat raises several types on a broken header or table
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CorpusError(f"audformat: cannot load the database in {path} ({first})") from None
    fields = _resolve(db, parse_mapping(mapping, "--map") or {}, path)
    splits = list(db.splits) or [None]
    records: list[dict[str, Any]] = []
    sources: list[str] = []
    seen: set[tuple[str, float, float]] = set()
    for split in splits:
        frame = _gather(db, fields, split)
        segmented = isinstance(frame.index, pd.MultiIndex) and "start" in frame.index.names
        for key, row in frame.iterrows():
            file, start, end = (key[0], key[1], key[2]) if segmented else (key, None, None)
            start_s, end_s = _seconds(start), _seconds(end)
            if start_s == 0.0 and math.isnan(end_s):
                start_s = float("nan")
            ident = (str(file), start_s, end_s)
            if ident in seen:  # a file in two splits' tables keeps its first split
                continue
            seen.add(ident)
            stem = str(Path(str(file)).with_suffix("")).replace("\\", "/")
            uid = stem if not segmented or math.isnan(end_s) else f"{stem}_{start_s:.3f}_{end_s:.3f}"
            audio = Path(str(file))
            rec: dict[str, Any] = {
                "utterance_id": uid,
                "audio_path": str(audio if audio.is_absolute() else (path / audio).resolve()),
                "start_s": start_s,
                "end_s": end_s,
                "split": split,
            }
            for field in fields:
                value = _clean(row[field])
                if field in FLOAT_COLUMNS:
                    try:
                        rec[field] = float(value) if value is not None else float("nan")
                    except (TypeError, ValueError):
                        raise CorpusError(
                            f"audformat {path}: {uid}: {field} (scheme {fields[field]!r}) holds {value!r}, "
                            "not a number; map a numeric scheme"
                        ) from None
                elif field == "label":
                    rec[field] = str(value).strip().lower() if value is not None else None
                elif field == "gender" and value is not None:
                    g = str(value).strip().lower()
                    rec[field] = {"female": "F", "f": "F", "male": "M", "m": "M"}.get(g)
                else:
                    rec[field] = str(value) if value is not None else None
            records.append(rec)
            sources.append(f"{path}: {file}")
    if not records:
        raise CorpusError(f"audformat: {path} has no labelled files")
    report = CorpusReport(corpus="audformat", root=str(path))
    report.notes.append("schemes used: " + ", ".join(f"{f}={s}" for f, s in fields.items()))
    return finish(
        records,
        report,
        sources=sources,
        label_map=label_map,
        drop_no_agreement=drop_no_agreement,
        classes=classes,
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
