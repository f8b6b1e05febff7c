"""Hugging Face ``datasets`` corpora: a dataset saved with ``save_to_disk`` (or a Hub id) -> the utterance table.

The dataset's audio column (a ``datasets.Audio`` feature) is read **without decoding**: each example's stored
bytes are written unchanged, atomically, to ``audio_dir/<utterance_id><ext>`` (an example that points to an
existing local file keeps that file), so the table's ``audio_path`` column points at real files like every
other adapter's. A re-run reuses files already written. Columns map to schema fields as in the manifest reader
(``mapping={"audio": "audio", "label": "emotion", "text": "sentence", "speaker": "speaker_id"}``, on the
command line ``--map audio=audio,label=emotion,...``); a ``ClassLabel`` label column gives its class names.
A ``DatasetDict`` is read split by split, and the split's name fills the ``split`` column.

``datasets`` is an optional dependency (``pip install emofuse[corpora]``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from emofuse.corpus.manifest import _clean, resolve_mapping
from emofuse.corpus.report import CorpusReport, CorpusResult, finish
from emofuse.corpus.table import FLOAT_COLUMNS
from emofuse.errors import ConfigError, CorpusError
from emofuse.hashing import config_hash
from emofuse.io import atomic_write_bytes
from emofuse.paths import cache_root

_SAFE = re.compile(r"[^A-Za-z0-9._-]")
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aiff", ".aif")


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "reading a Hugging Face dataset needs the `datasets` package: pip install 'emofuse[corpora]'"
        ) from None
    return datasets


def load_hf(source: str | Path, *, split: str | None = None) -> tuple[dict[str, Any], str]:
    """``{split name: Dataset}`` and a description of where it came from.

    ``source`` is a folder written by ``save_to_disk`` or, when no such folder exists, a Hub repository id
    (needs network access; offline it is a clear :class:`CorpusError`).
    """
    datasets = _import_datasets()
    path = Path(source).expanduser()
    if path.is_dir():
        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise CorpusError(
                f"hf: {path} is not a dataset saved with save_to_disk ({str(exc).splitlines()[0]}); "
                "give the folder that save_to_disk wrote, or a Hub dataset id"
            ) from None
        where = str(path.resolve())
    else:
        if path.suffix or str(source).startswith((".", "/", "~")):
            raise CorpusError(f"hf: dataset folder not found: {path}; give a save_to_disk folder or a Hub id")
        if os.environ.get("EMOFUSE_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise CorpusError(
                f"hf: {source!r} is not a folder, and Hub datasets cannot be fetched offline "
                "(EMOFUSE_OFFLINE / HF_HUB_OFFLINE is set); give a save_to_disk folder"
            )
        try:
            loaded = datasets.load_dataset(str(source), split=split)
        except Exception as exc:  # offline, unknown id, gated repository: several exception types
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CorpusError(
                f"hf: could not load Hub dataset {source!r} ({first}). Without network access, save it with "
                "save_to_disk on a machine that has it and give that folder."
            ) from None
        where = f"hf://{source}"
    if isinstance(loaded, datasets.DatasetDict):
        parts = dict(loaded)
        if split is not None:
            if split not in parts:
                raise ConfigError(f"hf: {where} has no split {split!r}; its splits are {sorted(parts)}")
            parts = {split: parts[split]}
        return parts, where
    return {split or "": loaded}, where


def _audio_column(dataset: Any, fields: dict[str, str], where: str) -> str:
    datasets = _import_datasets()
    column = fields["audio_path"]
    feature = dataset.features[column]
    if isinstance(feature, datasets.Audio):
        return column
    if isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string"):
        return column
    raise ConfigError(
        f"hf: {where} column {column!r} is {type(feature).__name__}, not audio; map the audio column with "
        f"--map audio=<column> (columns: {list(dataset.column_names)})"
    )


def _write_audio(value: Any, uid: str, audio_dir: Path, base: Path | None) -> str:
    """The path of the example's audio: an existing file, or its stored bytes written once to ``audio_dir``."""
    if isinstance(value, str):
        value = {"path": value, "bytes": None}
    if not isinstance(value, Mapping):
        raise CorpusError(f"hf: example {uid}: audio is {type(value).__name__}, expected a path or bytes")
    path, data = value.get("path"), value.get("bytes")
    if data is None:
        if not path:
            raise CorpusError(f"hf: example {uid}: audio has neither bytes nor a path")
        p = Path(path).expanduser()
        if not p.is_absolute() and base is not None:
            p = base / p
        return str(p.resolve())  # a missing file is reported by finish (or skipped with skip_missing)
    suffix = Path(path).suffix.lower() if path else ""
    out = audio_dir / f"{_SAFE.sub('_', uid)}{suffix if suffix in AUDIO_SUFFIXES else '.wav'}"
    if not (out.is_file() and out.stat().st_size == len(data)):
        atomic_write_bytes(out, bytes(data))
    return str(out.resolve())


def _label_names(dataset: Any, column: str | None) -> Sequence[str] | None:
    datasets = _import_datasets()
    if column is None:
        return None
    feature = dataset.features[column]
    return list(feature.names) if isinstance(feature, datasets.ClassLabel) else None


def read_hf_dataset(
    source: str | Path,
    *,
    mapping: Mapping[str, str] | str | None = None,
    split: str | None = None,
    audio_dir: str | Path | None = None,
    drop_no_agreement: bool = False,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read a Hugging Face dataset into an utterance table.

    Args:
        source: a ``save_to_disk`` folder, or a Hub dataset id (network access needed).
        mapping: schema field -> dataset column (a dict or ``"audio=audio,label=emotion,speaker=speaker_id"``);
            unmapped fields are taken from columns of the same name or alias (``audio``, ``id``, ``text``, ...).
        split: read only this split of a DatasetDict (default: all of them, each filling ``split``).
        audio_dir: where stored audio bytes are written (default: ``<cache>/hf_audio/<hash of source>``).
        drop_no_agreement, classes, label_map, skip_missing, verify_audio: as for every adapter.
    """
    from emofuse.corpus.labels import parse_mapping

    parts, where = load_hf(source, split=split)
    out_dir = (
        Path(audio_dir).expanduser().resolve()
        if audio_dir is not None
        else cache_root() / "hf_audio" / config_hash({"source": where})[:16]
    )
    base = Path(where) if not where.startswith("hf://") else None
    records: list[dict[str, Any]] = []
    sources: list[str] = []
    for split_name, dataset in parts.items():
        fields = resolve_mapping(parse_mapping(mapping, "--map"), list(dataset.column_names), Path(where))
        audio_column = _audio_column(dataset, fields, where)
        names = _label_names(dataset, fields.get("label"))
        if isinstance(dataset.features[audio_column], _import_datasets().Audio):
            dataset = dataset.cast_column(audio_column, _import_datasets().Audio(decode=False))
        for i, example in enumerate(dataset):
            uid = _clean(example.get(fields["utterance_id"])) if "utterance_id" in fields else None
            uid = str(uid) if uid is not None else f"{split_name or 'row'}-{i:06d}"
            rec: dict[str, Any] = {
                f: _clean(example.get(c))
                for f, c in fields.items()
                if f not in ("audio_path", "utterance_id")
            }
            rec["utterance_id"] = uid
            rec["audio_path"] = _write_audio(example[audio_column], uid, out_dir, base)
            label = rec.get("label")
            if label is not None and names is not None:
                label = names[int(label)] if int(label) >= 0 else None
            rec["label"] = str(label).strip().lower() if label is not None else None
            for field in FLOAT_COLUMNS:
                if rec.get(field) is not None:
                    try:
                        rec[field] = float(rec[field])
                    except (TypeError, ValueError):
                        raise CorpusError(
                            f"hf: {where} example {uid}: {field} (column {fields[field]!r}) holds "
                            f"{rec[field]!r}, not a number"
                        ) from None
            for field in ("speaker", "gender", "session", "script", "transcript"):
                if rec.get(field) is not None:
                    rec[field] = str(rec[field])
            if split_name and rec.get("split") is None:
                rec["split"] = split_name
            records.append(rec)
            sources.append(f"{where}[{split_name}][{i}]" if split_name else f"{where}[{i}]")
    if not records:
        raise CorpusError(f"hf: {where} has no examples")
    report = CorpusReport(corpus="hf", root=where)
    if any(str(r["audio_path"]).startswith(str(out_dir)) for r in records):
        report.notes.append(f"audio written to {out_dir}")
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
