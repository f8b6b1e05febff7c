"""Silence from word timings (perez2022 section 4.2, "mind the gap").

perez2022 defines silence as the unvoiced stretches between word boundaries given by ASR and inserts a silence
token there; it states no minimum gap. Word timings never abut exactly (Whisper's are quantised to 20 ms, stop
closures leave short gaps inside fluent speech), so emofuse inserts ``[SIL]`` only where the gap between one
word's end and the next word's start reaches ``threshold_s``.

Default ``threshold_s = 0.25``: the 250 ms pause threshold of the pause literature (Goldman-Eisler, 1968), long
enough to skip articulatory closures and timing jitter, short enough to keep the hesitations perez2022 shows
("it [SIL] was it was [SIL] it was"). Change it per corpus with ``threshold_s`` (CLI ``--threshold-s``).

Tokens go only between words (never inside one). ``leading``/``trailing`` also mark silence before the first or
after the last word when it reaches the threshold (perez2022's examples show only inner silences, so both are
off by default).

Two utterance-level numbers:
- ``silence_ratio``: the portion of the utterance not covered by any word interval (perez2022's global silence
  feature computed from the ASR word timings);
- ``vad_silence_ratio``: non-speech frames / frames from silero-vad (Atmaja & Akagi's frame-based feature).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from emofuse.transcribe.types import Transcript, Word

SIL_TOKEN = "[SIL]"
DEFAULT_THRESHOLD_S = 0.25
#: silero-vad's frame-based ``vad_silence_ratio`` costs a model pass per utterance and feeds no branch by itself:
#: off unless asked (the one default of :class:`emofuse.transcribe.source.SilenceConfig`).
DEFAULT_VAD = False


def text_with_silence(
    words: Sequence[Word],
    duration_s: float,
    *,
    threshold_s: float = DEFAULT_THRESHOLD_S,
    leading: bool = False,
    trailing: bool = False,
    token: str = SIL_TOKEN,
) -> str:
    """Join word texts with ``token`` wherever a gap of at least ``threshold_s`` seconds separates two words.

    Returns the empty string for no words (a silent utterance has no text to annotate).
    """
    if threshold_s <= 0:
        raise ValueError(f"threshold_s must be positive, got {threshold_s}")
    if not words:
        return ""
    pieces: list[str] = []
    if leading and words[0].start_s >= threshold_s:
        pieces.append(token)
    for i, word in enumerate(words):
        if i > 0 and word.start_s - words[i - 1].end_s >= threshold_s - 1e-9:
            pieces.append(token)
        pieces.append(word.text)
    if trailing and duration_s - words[-1].end_s >= threshold_s - 1e-9:
        pieces.append(token)
    return " ".join(pieces)


def silence_ratio(words: Sequence[Word], duration_s: float) -> float:
    """Portion of ``[0, duration_s]`` covered by no word interval, in ``[0, 1]`` (1.0 with no words or no audio)."""
    if duration_s <= 0:
        return 1.0
    spans = sorted((max(0.0, w.start_s), min(duration_s, w.end_s)) for w in words)
    covered = 0.0
    cur_start, cur_end = None, None
    for start, end in spans:
        if end <= start:
            continue
        if cur_end is None or start > cur_end:
            if cur_end is not None:
                covered += cur_end - cur_start
            cur_start, cur_end = start, end
        else:
            cur_end = max(cur_end, end)
    if cur_end is not None:
        covered += cur_end - cur_start
    return float(min(1.0, max(0.0, 1.0 - covered / duration_s)))


def annotate(
    transcript: Transcript,
    wave: np.ndarray | None,
    sample_rate_hz: int,
    threshold_s: float = DEFAULT_THRESHOLD_S,
    leading: bool = False,
    trailing: bool = False,
    vad: bool = DEFAULT_VAD,
) -> Transcript:
    """Return a copy of ``transcript`` with ``text_with_sil``, ``silence_ratio`` and (if ``vad``) ``vad_silence_ratio``.

    Args:
        wave: the utterance's waveform ``[N]`` (needed for the duration and for VAD; None uses
            ``transcript.duration_s`` and requires ``vad=False``).
        threshold_s: minimum gap between words that becomes a ``[SIL]`` token.
        leading, trailing: also mark silence before the first / after the last word.
        vad: compute ``vad_silence_ratio`` with silero-vad.
    """
    if wave is not None:
        duration_s = len(wave) / float(sample_rate_hz)
    else:
        if vad:
            raise ValueError("annotate(vad=True) needs the waveform")
        duration_s = transcript.duration_s
    vad_ratio = transcript.vad_silence_ratio
    if vad and wave is not None:
        from emofuse.transcribe.vad import vad_silence_ratio

        vad_ratio = vad_silence_ratio(wave, sample_rate_hz)
    extra = dict(transcript.extra)
    extra["silence"] = {
        "threshold_s": float(threshold_s),
        "leading": bool(leading),
        "trailing": bool(trailing),
    }
    return dataclasses.replace(
        transcript,
        text_with_sil=text_with_silence(
            transcript.words, duration_s, threshold_s=threshold_s, leading=leading, trailing=trailing
        ),
        silence_ratio=silence_ratio(transcript.words, duration_s),
        vad_silence_ratio=vad_ratio,
        extra=extra,
    )
