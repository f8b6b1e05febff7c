"""EmoDB reader (Berlin Database of Emotional Speech, German, 10 actors, 7 emotions).

Burkhardt, Paeschke, Rolfes, Sendlmeier, Weiss: "A database of German emotional speech", Interspeech 2005,
doi:10.21437/Interspeech.2005-446.

Layout (under ``root``): ``wav/<SS><TTT><E><v>.wav`` as downloaded (or ``audio/...``, or the files directly in
``root``). The file name codes the speaker ``SS`` (03, 08-16), the sentence ``TTT`` (a01-a07, b01-b03), the
emotion letter ``E`` (German initials: W Wut = anger, L Langeweile = boredom, E Ekel = disgust, A Angst = fear,
F Freude = happiness, T Trauer = sadness, N neutral) and a version letter ``v``. Speakers 03, 10, 11, 12, 15 are
male, 08, 09, 13, 14, 16 female.

The sentence is kept as ``script`` (``a01`` ...) and its German text as ``transcript``: every actor speaks the
same ten sentences, so the leak checker reports shared scripts between train and test (by design of the corpus:
leave-one-speaker-out is its usual protocol).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.corpus.labels import EMODB_CODES
from emofuse.corpus.report import CorpusReport, CorpusResult, finish, require_dir
from emofuse.errors import CorpusError

#: The ten sentences (the corpus's own texts).
SENTENCES: dict[str, str] = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Blatt Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
MALE_SPEAKERS: frozenset[str] = frozenset({"03", "10", "11", "12", "15"})
_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def parse_emodb_name(stem: str) -> dict[str, Any]:
    """Fields of an EmoDB file name stem such as ``03a01Wa``; raises CorpusError if malformed."""
    m = _NAME.match(stem)
    if not m:
        raise CorpusError(
            f"emodb: file name {stem!r} is not the code <speaker 2 digits><sentence a01..b10><emotion letter>"
            "<version letter> like 03a01Wa"
        )
    speaker, sentence, emotion, version = m.groups()
    if emotion not in EMODB_CODES:
        raise CorpusError(
            f"emodb: file name {stem!r} has emotion letter {emotion!r}; known letters are {sorted(EMODB_CODES)}"
        )
    return {
        "speaker": speaker,
        "sentence": sentence,
        "label": EMODB_CODES[emotion],
        "version": version,
        "gender": "M" if speaker in MALE_SPEAKERS else "F",
    }


def _audio_dir(root: Path) -> Path:
    for name in ("wav", "audio"):
        if (root / name).is_dir():
            return root / name
    return root


def read_emodb(
    root: str | Path,
    *,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
) -> CorpusResult:
    """Read EmoDB's ``wav/*.wav`` (or ``audio/*.wav``) into an utterance table.

    Args:
        root: the corpus folder (holding ``wav/`` or ``audio/``, or the WAV files themselves).
        classes: keep only these labels (e.g. ``angry, happy, neutral, sad`` for the usual 4 classes).
        label_map: relabelling, old -> new.
        skip_missing: skip (and report) unreadable files instead of raising.
        verify_audio: read each file's header.
    """
    root = Path(root).expanduser().resolve()
    require_dir(root, "emodb", "corpus root")
    audio_dir = _audio_dir(root)
    wavs = sorted(audio_dir.glob("*.wav"))
    if not wavs:
        raise CorpusError(
            f"emodb: no .wav files in {audio_dir}; give the folder that holds wav/ (files like 03a01Wa.wav)"
        )
    records: list[dict[str, Any]] = []
    bad: list[str] = []
    for wav in wavs:
        try:
            f = parse_emodb_name(wav.stem)
        except CorpusError as exc:
            bad.append(f"  {wav}: {exc}")
            continue
        records.append(
            {
                "utterance_id": wav.stem,
                "audio_path": str(wav),
                "speaker": f["speaker"],
                "gender": f["gender"],
                "script": f["sentence"],
                "transcript": SENTENCES.get(f["sentence"]),
                "label": f["label"],
            }
        )
    if bad:
        raise CorpusError(f"emodb: {len(bad)} file name(s) cannot be read:\n" + "\n".join(bad[:20]))
    return finish(
        records,
        CorpusReport(corpus="emodb", root=str(root)),
        sources=[r["audio_path"] for r in records],
        label_map=label_map,
        classes=classes,
        known_labels=sorted(set(EMODB_CODES.values())),
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
