"""What transcription returns: words with times, the plain text, and the silence view of it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    """One recognised (or aligned) word. Times in seconds from the start of the utterance."""

    text: str
    start_s: float
    end_s: float
    confidence: float | None = None


@dataclass
class Transcript:
    """A transcription of one utterance.

    Attributes:
        text: plain text, words joined by single spaces.
        words: words with times, in order; empty for silent audio.
        duration_s: length of the audio that was transcribed.
        backend: id of the backend configuration that produced it.
        text_with_sil: ``text`` with ``[SIL]`` tokens at long gaps (filled by :mod:`emofuse.transcribe.silence`).
        silence_ratio: portion of the utterance not covered by words, in [0, 1].
        vad_silence_ratio: non-speech frames / frames from silero-vad, in [0, 1] (None when not computed).
    """

    text: str
    words: list[Word]
    duration_s: float
    backend: str
    text_with_sil: str | None = None
    silence_ratio: float | None = None
    vad_silence_ratio: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        data = dict(data)
        data["words"] = [Word(**w) for w in data.get("words", [])]
        return cls(**data)
