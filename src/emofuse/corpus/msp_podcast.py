"""MSP-Podcast reader.

Layout (under ``root``)::

    Labels/labels_consensus.csv   FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set
    Audios/MSP-PODCAST_0001_0008.wav
    Transcripts/MSP-PODCAST_0001_0008.txt   (when present)

Older releases (v1.4 to v1.7) spell the label file ``labels_concensus.csv``; both are accepted.
``EmoAct``/``EmoVal``/``EmoDom`` are on the corpus's 1..7 scale. Speakers given as ``Unknown`` get
``speaker=None`` (each stays its own unknown speaker; they are never merged into one).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.corpus.labels import MSP_PODCAST_CODES
from emofuse.corpus.report import CorpusReport, CorpusResult, finish, require_dir
from emofuse.errors import CorpusError

LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv")
REQUIRED_COLUMNS = ("FileName", "EmoClass", "EmoAct", "EmoVal", "EmoDom", "SpkrID", "Gender", "Split_Set")
SPLITS = {"train": "train", "development": "dev", "dev": "dev", "validation": "dev"}
_UNKNOWN = {"", "unknown", "nan", "none", "-1"}


def map_split(value: str) -> str | None:
    """``Train`` -> ``train``, ``Development`` -> ``dev``, ``Test1`` -> ``test1`` (others lower-cased)."""
    v = value.strip()
    if not v:
        return None
    return SPLITS.get(v.lower(), v.lower())


def _gender(value: str) -> str | None:
    v = value.strip().lower()
    if v in ("female", "f"):
        return "F"
    if v in ("male", "m"):
        return "M"
    return None


def _float(value: str, where: str, column: str) -> float:
    v = value.strip()
    if not v:
        return float("nan")
    try:
        return float(v)
    except ValueError:
        raise CorpusError(f"msp_podcast: {where}: column {column} holds {value!r}, not a number") from None


def read_msp_podcast(
    root: str | Path,
    *,
    drop_no_agreement: bool = False,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read MSP-Podcast (``Labels/labels_consensus.csv`` + ``Audios/``) into an utterance table.

    Args:
        root: the release folder holding Labels/ and Audios/.
        drop_no_agreement: drop ``X`` (no agreement) and ``O`` (other); kept otherwise.
        classes: keep only these labels, e.g. ``("angry", "happy", "sad", "neutral")``.
        label_map: relabelling, old -> new.
        skip_missing: skip (and report) rows whose audio is missing or unreadable instead of raising.
        verify_audio: read each file's header.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "msp_podcast", "corpus root")
    label_file = next((root / "Labels" / n for n in LABEL_FILES if (root / "Labels" / n).is_file()), None)
    if label_file is None:
        raise CorpusError(
            f"msp_podcast: no Labels/labels_consensus.csv under {root}; give the release folder"
        )
    audio_dir = root / "Audios"
    require_dir(audio_dir, "msp_podcast", "audio folder Audios/")
    transcript_dir = root / "Transcripts"
    report = CorpusReport(corpus="msp_podcast", root=str(root))
    records: list[dict[str, Any]] = []
    sources: list[str] = []
    unknown_speakers = 0
    no_text = 0
    with open(label_file, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CorpusError(
                f"msp_podcast: {label_file} lacks column(s) {missing}; found {reader.fieldnames}"
            )
        bad_codes: list[str] = []
        for row_no, row in enumerate(reader, start=2):
            where = f"{label_file}:{row_no}"
            name = row["FileName"].strip()
            code = row["EmoClass"].strip().upper()
            if code not in MSP_PODCAST_CODES:
                bad_codes.append(f"  {where}: {name} EmoClass={row['EmoClass']!r}")
                continue
            speaker_raw = row["SpkrID"].strip()
            speaker = None if speaker_raw.lower() in _UNKNOWN else speaker_raw
            unknown_speakers += speaker is None
            stem = Path(name).stem
            text = None
            text_file = transcript_dir / f"{stem}.txt"
            if transcript_dir.is_dir() and text_file.is_file():
                text = text_file.read_text(encoding="utf-8", errors="replace").strip()
            else:
                no_text += 1
            records.append(
                {
                    "utterance_id": stem,
                    "audio_path": str(audio_dir / name),
                    "speaker": speaker,
                    "gender": _gender(row["Gender"]),
                    "transcript": text,
                    "label": MSP_PODCAST_CODES[code],
                    "arousal": _float(row["EmoAct"], where, "EmoAct"),
                    "valence": _float(row["EmoVal"], where, "EmoVal"),
                    "dominance": _float(row["EmoDom"], where, "EmoDom"),
                    "split": map_split(row["Split_Set"]),
                }
            )
            sources.append(where)
        if bad_codes:
            raise CorpusError(
                f"msp_podcast: {len(bad_codes)} row(s) have an unknown EmoClass (known: {sorted(MSP_PODCAST_CODES)}):\n"
                + "\n".join(bad_codes[:20])
            )
    if unknown_speakers:
        report.notes.append(
            f"{unknown_speakers} utterance(s) have an unknown speaker (speaker=None, kept apart)"
        )
    if no_text:
        report.notes.append(f"{no_text} utterance(s) have no Transcripts/<name>.txt (transcript=None)")
    return finish(
        records,
        report,
        sources=sources,
        label_map=label_map,
        drop_no_agreement=drop_no_agreement,
        classes=classes,
        known_labels=list(MSP_PODCAST_CODES.values()),
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
