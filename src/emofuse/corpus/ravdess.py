"""RAVDESS reader (audio-only speech and song files).

Layout (under ``root``): ``Actor_01/03-01-06-01-02-01-01.wav`` ... ``Actor_24/...``. The seven file-name fields:
modality (01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song), emotion (01 neutral,
02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal, 02 strong),
statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door"), repetition (01, 02) and
actor (01..24; odd actors are male, even actors female).

The statement is kept as ``script`` (``statement01``/``statement02``) and its text as ``transcript``: every
actor reads the same two sentences, so the leak checker reports them as shared between train and test.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.corpus.labels import RAVDESS_CODES
from emofuse.corpus.report import CorpusReport, CorpusResult, finish, require_dir
from emofuse.errors import CorpusError

STATEMENTS: dict[str, str] = {
    "01": "Kids are talking by the door",
    "02": "Dogs are sitting by the door",
}
_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ravdess_name(stem: str) -> dict[str, Any]:
    """Fields of a RAVDESS file name stem such as ``03-01-06-01-02-01-12``; raises CorpusError if malformed."""
    m = _NAME.match(stem)
    if not m:
        raise CorpusError(f"ravdess: file name {stem!r} is not the 7-field code like 03-01-06-01-02-01-12")
    modality, channel, emotion, intensity, statement, repetition, actor = m.groups()
    if emotion not in RAVDESS_CODES or statement not in STATEMENTS or channel not in ("01", "02"):
        raise CorpusError(
            f"ravdess: file name {stem!r} has an unknown code (emotion {emotion}, statement {statement}, "
            f"vocal channel {channel}); emotion is 01..08, statement 01/02, channel 01/02"
        )
    actor_no = int(actor)
    return {
        "modality": modality,
        "vocal_channel": "speech" if channel == "01" else "song",
        "label": RAVDESS_CODES[emotion],
        "intensity": "normal" if intensity == "01" else "strong",
        "statement": statement,
        "repetition": int(repetition),
        "actor": actor_no,
        "gender": "M" if actor_no % 2 == 1 else "F",
    }


def read_ravdess(
    root: str | Path,
    *,
    include_song: bool = False,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read RAVDESS ``Actor_XX/*.wav`` into an utterance table.

    Args:
        root: folder holding Actor_01..Actor_24.
        include_song: keep sung files (vocal channel 02); by default they are dropped and reported.
        classes: keep only these labels.
        label_map: relabelling, old -> new.
        skip_missing: skip (and report) unreadable files instead of raising.
        verify_audio: read each file's header.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "ravdess", "corpus root")
    actor_dirs = sorted(p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"Actor_\d+", p.name))
    if not actor_dirs:
        raise CorpusError(
            f"ravdess: no Actor_XX folders under {root}; give the folder that holds Actor_01 ... Actor_24"
        )
    report = CorpusReport(corpus="ravdess", root=str(root))
    records: list[dict[str, Any]] = []
    songs: list[str] = []
    bad: list[str] = []
    for actor_dir in actor_dirs:
        for wav in sorted(actor_dir.glob("*.wav")):
            try:
                f = parse_ravdess_name(wav.stem)
            except CorpusError as exc:
                bad.append(f"  {wav}: {exc}")
                continue
            if f["actor"] != int(actor_dir.name[6:]):
                bad.append(f"  {wav}: actor field {f['actor']:02d} does not match folder {actor_dir.name}")
                continue
            if f["vocal_channel"] == "song" and not include_song:
                songs.append(wav.stem)
                continue
            records.append(
                {
                    "utterance_id": wav.stem,
                    "audio_path": str(wav),
                    "speaker": f"Actor_{f['actor']:02d}",
                    "gender": f["gender"],
                    "script": f"statement{f['statement']}",
                    "transcript": STATEMENTS[f["statement"]],
                    "label": f["label"],
                }
            )
    if bad:
        raise CorpusError(f"ravdess: {len(bad)} file name(s) cannot be read:\n" + "\n".join(bad[:20]))
    if not records and not songs:
        raise CorpusError(f"ravdess: no .wav files in the Actor_XX folders under {root}")
    result = finish(
        records,
        report,
        sources=[r["audio_path"] for r in records],
        label_map=label_map,
        classes=classes,
        known_labels=list(RAVDESS_CODES.values()),
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
    # songs were found too: count them and report them first
    if songs:
        result.report.n_found += len(songs)
        result.report.dropped = {"vocal channel 'song' (include_song=False)": songs, **result.report.dropped}
    return result
