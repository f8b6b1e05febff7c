"""IEMOCAP full release reader.

Layout (under ``root``)::

    Session1/dialog/EmoEvaluation/Ses01F_impro01.txt    turn lines "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]"
    Session1/dialog/transcriptions/Ses01F_impro01.txt   "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
    Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav

The bracket triple of a turn line is [valence, activation(arousal), dominance] on IEMOCAP's 1..5 scale.
The speaker is the session plus the gender letter of the utterance (``Ses01F_impro01_M003`` -> ``Ses01M``):
the letter in the dialog name only says who wore the motion-capture markers. Scripted dialogs keep their
script id (``Ses01F_script01_2`` -> ``script01_2``); improvised ones have ``script=None``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emofuse.corpus.labels import EXCITED_TO_HAPPY, IEMOCAP_CODES
from emofuse.corpus.report import CorpusReport, CorpusResult, finish
from emofuse.errors import CorpusError

_TURN = re.compile(
    r"^\[\s*(?P<start>[\d.]+)\s*-\s*(?P<end>[\d.]+)\s*\]\s+(?P<uid>\S+)\s+(?P<code>\S+)\s+"
    r"\[\s*(?P<v>[-\d.]+)\s*,\s*(?P<a>[-\d.]+)\s*,\s*(?P<d>[-\d.]+)\s*\]\s*$"
)
_TRANSCRIPT = re.compile(r"^(?P<uid>Ses\d\d[FM]_\S+)\s+\[[^\]]*\]:\s?(?P<text>.*)$")
_UTT_ID = re.compile(r"^Ses(?P<num>\d\d)[FM]_(?P<dialog_rest>.+)_(?P<gender>[FM])[A-Za-z0-9]*$")


def parse_utterance_id(uid: str) -> dict[str, Any]:
    """Fields encoded in an IEMOCAP utterance id.

    ``Ses01F_script01_2_M003`` -> dialog ``Ses01F_script01_2``, speaker ``Ses01M``, gender ``M``,
    session ``Session1``, script ``script01_2``; improvised dialogs give script ``None``.
    """
    m = _UTT_ID.match(uid)
    if not m:
        raise CorpusError(f"iemocap: utterance id {uid!r} does not look like Ses01F_impro01_F000")
    dialog = uid.rsplit("_", 1)[0]
    rest = m.group("dialog_rest")
    script = rest if rest.startswith("script") else None
    return {
        "dialog": dialog,
        "speaker": f"Ses{m.group('num')}{m.group('gender')}",
        "gender": m.group("gender"),
        "session": f"Session{int(m.group('num'))}",
        "script": script,
    }


def read_transcriptions(path: Path) -> dict[str, str]:
    """utterance id -> text from one ``dialog/transcriptions/<dialog>.txt`` file (other lines ignored)."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            m = _TRANSCRIPT.match(line.strip())
            if m:
                out[m.group("uid")] = m.group("text").strip()
    return out


def _session_dirs(root: Path, sessions: Sequence[int] | None) -> list[Path]:
    if not root.is_dir():
        raise CorpusError(f"iemocap: corpus root not found: {root}")
    found = sorted(
        (p for p in root.iterdir() if p.is_dir() and re.fullmatch(r"Session\d+", p.name)),
        key=lambda p: int(p.name[7:]),
    )
    if sessions is not None:
        found = [p for p in found if int(p.name[7:]) in set(sessions)]
    if not found:
        raise CorpusError(
            f"iemocap: no Session1..Session5 folders under {root}; give the folder of the full release "
            "(the one holding Session1/dialog/EmoEvaluation)"
        )
    return found


def read_iemocap(
    root: str | Path,
    *,
    merge_excited_into_happy: bool = False,
    drop_no_agreement: bool = False,
    classes: Sequence[str] | None = None,
    label_map: dict[str, str] | None = None,
    skip_missing: bool = False,
    verify_audio: bool = True,
    sessions: Sequence[int] | None = None,
) -> CorpusResult:
    """Read the IEMOCAP full release into an utterance table.

    Args:
        root: folder holding Session1..Session5.
        merge_excited_into_happy: relabel ``excited`` as ``happy`` (pepino2020 and most of the field).
        drop_no_agreement: drop ``xxx`` (no agreement) and ``oth`` (other) turns; they are kept otherwise.
        classes: keep only these labels (after merging), e.g. ``("angry", "happy", "sad", "neutral")``.
        label_map: further relabelling, old -> new.
        skip_missing: skip (and report) turns whose wav is missing or unreadable instead of raising.
        verify_audio: read each wav header (catches empty or corrupt files).
        sessions: read only these session numbers.

    Returns:
        :class:`CorpusResult`; arousal/valence/dominance on IEMOCAP's 1..5 scale; start_s/end_s are NaN
        because each turn has its own wav (the dialog times are not needed to read it).
    """
    root = Path(root).expanduser().resolve()
    report = CorpusReport(corpus="iemocap", root=str(root))
    records: list[dict[str, Any]] = []
    sources: list[str] = []
    no_text: list[str] = []
    bad_codes: list[str] = []
    for session_dir in _session_dirs(root, sessions):
        eval_dir = session_dir / "dialog" / "EmoEvaluation"
        if not eval_dir.is_dir():
            raise CorpusError(
                f"iemocap: {eval_dir} not found; each Session folder needs dialog/EmoEvaluation/*.txt"
            )
        eval_files = sorted(p for p in eval_dir.glob("*.txt") if not p.name.startswith("."))
        if not eval_files:
            raise CorpusError(f"iemocap: no label files (*.txt) in {eval_dir}")
        for eval_file in eval_files:
            dialog = eval_file.stem
            trans_file = session_dir / "dialog" / "transcriptions" / f"{dialog}.txt"
            texts = read_transcriptions(trans_file) if trans_file.is_file() else {}
            with open(eval_file, encoding="utf-8", errors="replace") as handle:
                for line_no, raw in enumerate(handle, start=1):
                    line = raw.strip()
                    if not line.startswith("["):
                        continue
                    where = f"{eval_file}:{line_no}"
                    m = _TURN.match(line)
                    if not m:
                        raise CorpusError(
                            f"iemocap: cannot parse turn line {where}: {line!r}; expected "
                            "'[START - END]<TAB>UTTERANCE_ID<TAB>code<TAB>[V, A, D]'"
                        )
                    code = m.group("code").lower()
                    if code not in IEMOCAP_CODES:
                        bad_codes.append(f"  {where}: {m.group('uid')} code {m.group('code')!r}")
                        continue
                    uid = m.group("uid")
                    try:
                        fields = parse_utterance_id(uid)
                    except CorpusError as exc:
                        raise CorpusError(f"{exc} (at {where})") from None
                    text = texts.get(uid)
                    if text is None:
                        no_text.append(uid)
                    records.append(
                        {
                            "utterance_id": uid,
                            "audio_path": str(
                                session_dir / "sentences" / "wav" / fields["dialog"] / f"{uid}.wav"
                            ),
                            "speaker": fields["speaker"],
                            "gender": fields["gender"],
                            "session": fields["session"],
                            "script": fields["script"],
                            "transcript": text,
                            "label": IEMOCAP_CODES[code],
                            "valence": float(m.group("v")),
                            "arousal": float(m.group("a")),
                            "dominance": float(m.group("d")),
                        }
                    )
                    sources.append(where)
    if bad_codes:
        more = f"\n  ... and {len(bad_codes) - 20} more" if len(bad_codes) > 20 else ""
        raise CorpusError(
            f"iemocap: {len(bad_codes)} turn(s) with an unknown emotion code (known: {sorted(IEMOCAP_CODES)}):\n"
            + "\n".join(bad_codes[:20])
            + more
        )
    if no_text:
        report.notes.append(
            f"{len(no_text)} utterance(s) have no transcript line (transcript=None), e.g. {no_text[:3]}"
        )
    mapping = dict(EXCITED_TO_HAPPY) if merge_excited_into_happy else {}
    mapping.update(label_map or {})
    return finish(
        records,
        report,
        sources=sources,
        label_map=mapping,
        drop_no_agreement=drop_no_agreement,
        classes=classes,
        known_labels=list(IEMOCAP_CODES.values()),
        skip_missing=skip_missing,
        verify_audio=verify_audio,
    )
