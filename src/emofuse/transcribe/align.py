"""Forced alignment of a known transcript to audio with pocketsphinx (CMU en-us acoustic model and dictionary).

For corpora with human transcripts (IEMOCAP, MSP-Podcast v1.10) this gives word timings without recognition
errors. pocketsphinx frames are 10 ms (100 per second); a word spans ``[start_frame, end_frame]`` inclusive.
Words missing from the pronunciation dictionary cannot be aligned: by default they raise an error naming them
(``oov="error"``); ``oov="skip"`` aligns the rest and records the skipped words in ``Transcript.extra``.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from emofuse.errors import ConfigError, ModelLoadError, TranscriptionError
from emofuse.hashing import config_hash
from emofuse.transcribe.base import MODEL_SAMPLE_RATE_HZ, make_transcript, prepare_wave
from emofuse.transcribe.types import Transcript, Word

FRAMES_PER_S = 100
_SPLIT = re.compile(r"[\s\-\u2013\u2014/]+")
_NOT_DICT = re.compile(r"[^a-z0-9']+")
_ALT_PRON = re.compile(r"\(\d+\)$")
# Wide beams and a single forward pass: with pocketsphinx's defaults (beam 1e-48, fwdflat + bestpath) the word
# search of an alignment prunes away the true path on voices unlike its training data (espeak-ng speech failed on
# 3 of 6 test sentences); with these all aligned, with boundaries unchanged where both succeed.
ALIGN_SEARCH: dict[str, Any] = {
    "beam": 1e-80,
    "wbeam": 1e-60,
    "pbeam": 1e-80,
    "fwdflat": False,
    "bestpath": False,
}


@functools.lru_cache(maxsize=2)
def load_decoder(dictionary: str | None) -> Any:
    """Build a pocketsphinx ``Decoder`` at 16 kHz once per process (optionally with a custom dictionary)."""
    from pocketsphinx import Decoder

    kwargs: dict[str, Any] = {"samprate": MODEL_SAMPLE_RATE_HZ, "loglevel": "FATAL", **ALIGN_SEARCH}
    if dictionary is not None:
        if not Path(dictionary).is_file():
            raise ModelLoadError(f"pronunciation dictionary not found: {dictionary}")
        kwargs["dict"] = str(dictionary)
    try:
        return Decoder(**kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot start pocketsphinx: {exc}") from exc


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split a transcript into ``(original, dictionary_form)`` pairs; pure punctuation is dropped.

    The dictionary form is lower case with only ``a-z``, digits and apostrophes (curly apostrophes straightened).
    """
    pairs = []
    for token in _SPLIT.split(text.replace("\u2019", "'")):
        norm = _NOT_DICT.sub("", token.lower()).strip("'")
        if norm:
            pairs.append((token, norm))
    return pairs


class PocketsphinxAligner:
    """Align a given transcript to audio; ``transcribe(wave, sample_rate_hz, text)`` needs ``text``.

    Args:
        dictionary: a CMU-format pronunciation dictionary to use instead of pocketsphinx's en-us one
            (add the corpus's rare words there).
        oov: "error" (default) raises :class:`TranscriptionError` naming words missing from the dictionary;
            "skip" leaves them out of the alignment.
    """

    needs_text = True

    def __init__(self, *, dictionary: str | os.PathLike[str] | None = None, oov: str = "error") -> None:
        if oov not in ("error", "skip"):
            raise ConfigError(f"align option oov must be 'error' or 'skip', got {oov!r}")
        self.dictionary = None if dictionary is None else str(Path(dictionary).expanduser().resolve())
        self.oov = oov
        dict_tag = (
            "en-us" if dictionary is None else config_hash(Path(self.dictionary).read_bytes().hex()[:4096])
        )
        self.backend_id = f"align/pocketsphinx/{dict_tag}/{oov}"

    def transcribe(self, wave: np.ndarray, sample_rate_hz: int, text: str | None = None) -> Transcript:
        """Align ``text`` to ``wave`` ``[N]``; returns its words (original spelling) with their times."""
        if text is None or not str(text).strip():
            raise TranscriptionError(
                "forced alignment needs the transcript: pass text=..., or a corpus table with a transcript column"
            )
        audio = prepare_wave(wave, sample_rate_hz)
        duration_s = audio.size / MODEL_SAMPLE_RATE_HZ
        decoder = load_decoder(self.dictionary)
        pairs = tokenize(str(text))
        missing = [norm for _, norm in pairs if decoder.lookup_word(norm) is None]
        if missing and self.oov == "error":
            raise TranscriptionError(
                f"word(s) not in the pronunciation dictionary: {sorted(set(missing))}; spell numbers out, add them to "
                "a CMU-format dictionary passed as dictionary=..., or use oov='skip'"
            )
        pairs = [p for p in pairs if p[1] not in set(missing)]
        if not pairs:
            return make_transcript([], duration_s, self.backend_id, skipped_words=missing)
        if audio.size == 0 or float(np.max(np.abs(audio))) == 0.0:
            raise TranscriptionError(
                f"cannot align {len(pairs)} word(s) to silent audio ({duration_s:.2f} s)"
            )
        pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        try:
            decoder.set_align_text(" ".join(norm for _, norm in pairs))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            segments = list(decoder.seg() or [])
        except Exception as exc:
            load_decoder.cache_clear()  # a failed search may leave the decoder unusable: start afresh
            raise TranscriptionError(
                f"pocketsphinx could not align {len(pairs)} word(s) to {duration_s:.2f} s of audio: {exc}"
            ) from exc
        aligned = [
            s
            for s in segments
            if _ALT_PRON.sub("", s.word) not in ("<s>", "</s>", "<sil>") and not s.word.startswith("[")
        ]
        if len(aligned) != len(pairs):
            load_decoder.cache_clear()
            raise TranscriptionError(
                f"pocketsphinx aligned {len(aligned)} of {len(pairs)} words ({duration_s:.2f} s of audio); the "
                "transcript may not match the audio, or the audio is too short for it"
            )
        words = []
        for (original, _), seg in zip(pairs, aligned, strict=True):
            start_s = seg.start_frame / FRAMES_PER_S
            end_s = min((seg.end_frame + 1) / FRAMES_PER_S, duration_s)
            words.append(Word(original, round(start_s, 3), round(max(end_s, start_s), 3), None))
        return make_transcript(words, duration_s, self.backend_id, skipped_words=missing)
