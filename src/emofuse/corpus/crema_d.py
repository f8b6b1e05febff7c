"""CREMA-D reader.

Layout (under ``root``): ``AudioWAV/1001_DFA_ANG_XX.wav`` (actor, sentence code, emotion, level) and, when
present, ``VideoDemographics.csv`` (ActorID, Age, Sex, Race, Ethnicity) which gives the gender. The emotion
codes are ANG, DIS, FEA, HAP, NEU, SAD; the level LO, MD, HI or XX (unspecified).

The sentence code is kept as ``script`` and its text as ``transcript``: all 91 actors read the same 12
sentences, so the leak checker reports them as shared between train and test.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.corpus.labels import CREMA_D_CODES
from emofuse.corpus.report import CorpusReport, CorpusResult, finish, require_dir
from emofuse.errors import CorpusError

#: The twelve CREMA-D sentences (from the corpus README).
SENTENCES: dict[str, str] = {
    "IEO": "It's eleven o'clock",
    "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before",
    "TSI": "The surface is slick",
    "WSI": "We'll stop in a couple of minutes",
}
LEVELS: dict[str, str | None] = {"LO": "low", "MD": "medium", "HI": "high", "XX": None}
_NAME = re.compile(r"^(\d+)_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def parse_crema_d_name(stem: str) -> dict[str, Any]:
    """Fields of a CREMA-D file name stem such as ``1001_DFA_ANG_XX``; raises CorpusError if malformed."""
    m = _NAME.match(stem)
    if not m:
        raise CorpusError(
            f"crema_d: file name {stem!r} is not ACTOR_SENTENCE_EMOTION_LEVEL like 1001_DFA_ANG_XX"
        )
    actor, sentence, emotion, level = m.groups()
    problems = []
    if sentence not in SENTENCES:
        problems.append(f"sentence {sentence} (known: {sorted(SENTENCES)})")
    if emotion not in CREMA_D_CODES:
        problems.append(f"emotion {emotion} (known: {sorted(CREMA_D_CODES)})")
    if level not in LEVELS:
        problems.append(f"level {level} (known: {sorted(LEVELS)})")
    if problems:
        raise CorpusError(f"crema_d: file name {stem!r} has unknown " + ", ".join(problems))
    return {"actor": actor, "sentence": sentence, "label": CREMA_D_CODES[emotion], "level": LEVELS[level]}


def read_demographics(path: Path) -> dict[str, str | None]:
    """ActorID -> "F"/"M"/None from ``VideoDemographics.csv``."""
    out: dict[str, str | None] = {}
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "ActorID" not in reader.fieldnames or "Sex" not in reader.fieldnames:
            raise CorpusError(f"crema_d: {path} needs columns ActorID and Sex; found {reader.fieldnames}")
        for row in reader:
            sex = (row["Sex"] or "").strip().lower()
            out[row["ActorID"].strip()] = "F" if sex == "female" else "M" if sex == "male" else None
    return out


def read_crema_d(
    root: str | Path,
    *,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read CREMA-D ``AudioWAV/*.wav`` into an utterance table.

    Args:
        root: folder holding AudioWAV/ (and VideoDemographics.csv for gender; without it gender is None).
        classes: keep only these labels.
        label_map: relabelling, old -> new.
        skip_missing: skip (and report) unreadable or empty files (the release has one empty file,
            1076_MTI_SAD_XX.wav) instead of raising.
        verify_audio: read each file's header.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "crema_d", "corpus root")
    audio_dir = root / "AudioWAV"
    require_dir(audio_dir, "crema_d", "audio folder AudioWAV/")
    demo_file = root / "VideoDemographics.csv"
    genders = read_demographics(demo_file) if demo_file.is_file() else None
    report = CorpusReport(corpus="crema_d", root=str(root))
    if genders is None:
        report.notes.append("no VideoDemographics.csv: gender is None for every utterance")
    records: list[dict[str, Any]] = []
    bad: list[str] = []
    for wav in sorted(audio_dir.glob("*.wav")):
        try:
            f = parse_crema_d_name(wav.stem)
        except CorpusError as exc:
            bad.append(f"  {wav}: {exc}")
            continue
        records.append(
            {
                "utterance_id": wav.stem,
                "audio_path": str(wav),
                "speaker": f["actor"],
                "gender": None if genders is None else genders.get(f["actor"]),
                "script": f["sentence"],
                "transcript": SENTENCES[f["sentence"]],
                "label": f["label"],
            }
        )
    if bad:
        raise CorpusError(f"crema_d: {len(bad)} file name(s) cannot be read:\n" + "\n".join(bad[:20]))
    if not records:
        raise CorpusError(f"crema_d: no .wav files in {audio_dir}")
    if genders is not None:
        unknown = sorted({r["speaker"] for r in records if r["speaker"] not in genders})
        if unknown:
            report.notes.append(f"actors missing from VideoDemographics.csv (gender None): {unknown[:10]}")
    return finish(
        records,
        report,
        sources=[r["audio_path"] for r in records],
        label_map=label_map,
        classes=classes,
        known_labels=list(CREMA_D_CODES.values()),
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
