"""The one interface every transcription backend follows, and the helpers they share.

A backend takes a mono waveform ``[N]`` float32 at any rate and returns a :class:`~emofuse.transcribe.types.Transcript`
whose words carry ``start_s``/``end_s`` in seconds from the start of that waveform. Backends resample to 16 kHz
themselves (every model here runs at 16 kHz) and never read files: callers load audio with :mod:`emofuse.audio`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np

from emofuse.audio import SAMPLE_RATE_HZ as MODEL_SAMPLE_RATE_HZ
from emofuse.audio import check_waveform, resample
from emofuse.transcribe.types import Transcript, Word

_HAS_ALNUM = re.compile(r"\w", re.UNICODE)


@runtime_checkable
class Transcriber(Protocol):
    """What :func:`emofuse.transcribe.build_transcriber` returns.

    Attributes:
        backend_id: a stable string naming the backend and every option that changes its output (a cache key part).
        needs_text: True for forced alignment, which aligns a given transcript instead of recognising one.
    """

    backend_id: str
    needs_text: bool

    def transcribe(self, wave: np.ndarray, sample_rate_hz: int, text: str | None = None) -> Transcript:
        """Transcribe (or align ``text`` to) a waveform ``[N]``; returns words with times in seconds."""
        ...


def prepare_wave(wave: np.ndarray, sample_rate_hz: int, source: str = "<array>") -> np.ndarray:
    """Validate a waveform (``[N]`` or ``[N, C]``) and return it mono float32 ``[N']`` at 16 kHz."""
    mono = check_waveform(wave, sample_rate_hz, source)
    return resample(mono, int(sample_rate_hz), MODEL_SAMPLE_RATE_HZ)


def is_word(text: str) -> bool:
    """True when ``text`` holds at least one letter or digit (Whisper emits lone punctuation on noise)."""
    return bool(_HAS_ALNUM.search(text))


def clean_words(words: Iterable[Word], duration_s: float) -> list[Word]:
    """Strip word texts, drop punctuation-only words, clip times into ``[0, duration_s]`` and keep them monotonic.

    After this, ``0 <= start_s <= end_s <= duration_s`` for each word and starts never decrease.
    """
    out: list[Word] = []
    last_start = 0.0
    for word in words:
        text = word.text.strip()
        if not text or not is_word(text):
            continue
        start = min(max(float(word.start_s), last_start, 0.0), duration_s)
        end = min(max(float(word.end_s), start), duration_s)
        conf = None if word.confidence is None else float(word.confidence)
        out.append(Word(text=text, start_s=round(start, 3), end_s=round(end, 3), confidence=conf))
        last_start = start
    return out


def make_transcript(words: list[Word], duration_s: float, backend_id: str, **extra: object) -> Transcript:
    """Assemble a :class:`Transcript` from cleaned words (plain text = words joined by single spaces)."""
    return Transcript(
        text=" ".join(w.text for w in words),
        words=words,
        duration_s=float(duration_s),
        backend=backend_id,
        extra=dict(extra),
    )


def split_blocks(audio: np.ndarray, block_s: float, search_s: float = 10.0) -> list[tuple[int, int]]:
    """Cut a long 16 kHz waveform ``[N]`` into ``[start, end)`` sample ranges of at most ``block_s`` seconds.

    Each cut goes at the quietest 100 ms frame in the last ``search_s`` seconds before the limit, so it rarely
    splits a word. Transcribing block by block keeps memory bounded however long the recording is.
    """
    block = int(block_s * MODEL_SAMPLE_RATE_HZ)
    if block <= 0 or audio.size <= block:
        return [(0, int(audio.size))]
    frame = MODEL_SAMPLE_RATE_HZ // 10
    search = min(int(search_s * MODEL_SAMPLE_RATE_HZ), block // 2) // frame * frame
    ranges, start = [], 0
    while audio.size - start > block:
        window = audio[start + block - search : start + block]
        energy = np.square(window[: window.size // frame * frame].reshape(-1, frame)).mean(axis=1)
        quietest = int(np.argmin(energy)) if energy.size else 0
        cut = start + block - search + quietest * frame + frame // 2
        ranges.append((start, cut))
        start = cut
    ranges.append((start, int(audio.size)))
    return ranges
